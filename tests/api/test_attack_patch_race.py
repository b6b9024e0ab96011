"""Issue 9, item 6: concurrent PATCHes must never turn a user-scoped write ticket into an anonymous one.

The attack raced ``{"users": [], "groups": ["lab"]}`` against ``{"groups": []}`` on a ticket for one user:
each PATCH is valid against the ticket it read, but the merged result has no users and no groups, which the
old code stored as an anonymous, never-expiring write ticket. Both PATCHes go through the real API (separate
threads, separate test clients, lined up by a barrier) ``TRIES`` times; whatever the interleaving, the ticket
keeps a user or a group and stays user-scoped, and each PATCH either applied or was refused with a 422 (InvalidRequest).
"""
from __future__ import annotations

import threading

from ticketbooth.api.auth import issue_dev_token

from ..conftest import ZONE, ApiClient

TRIES = 60


def _patch(app, settings, clock, ticket_id, body, barrier, answers):
    client = ApiClient(app.test_client(), settings, clock)
    headers = {"Authorization": "Bearer " + issue_dev_token(settings, "alice", False, clock())}
    barrier.wait()
    answers.append(client.client.patch(f"/v1/tickets/{ticket_id}", json=body, headers=headers).status_code)


def test_racing_patches_never_merge_into_an_anonymous_ticket(app, client, settings, clock):
    path = f"/{ZONE}/home/alice/data"
    client.post("/v1/tickets", json={"path": path})  # provisions alice's home
    failures = []
    for attempt in range(TRIES):
        ticket = client.create(path, access="write", users=["bob"])
        barrier = threading.Barrier(2)
        answers: list[int] = []
        threads = [threading.Thread(target=_patch, args=(app, settings, clock, ticket["id"], body, barrier, answers))
                   for body in ({"users": [], "groups": ["lab"]}, {"groups": []})]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) in ([200, 200], [200, 422]), answers
        after = client.get(f"/v1/tickets/{ticket['id']}").get_json()
        if after["anonymous"] or not (after["users"] or after["groups"]):
            failures.append((attempt, after["users"], after["groups"], after.get("expires_at")))
    assert failures == []
