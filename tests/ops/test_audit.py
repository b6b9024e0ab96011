"""The audit trail end to end: lifecycle events from the API, refusals from the gateway, links and
/v1/authorize, each in GET /v1/events (with owner/admin visibility, filters, cursors) and in the
``ticketbooth.audit`` log; granted uses as per-ticket usage on the ticket resource."""
from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from ticketbooth.app import create_app
from ticketbooth.gateway.app import create_gateway_app

from ..conftest import ZONE
from ..gateway.conftest import call_wsgi

DATA = f"/{ZONE}/home/alice/data"


def events(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/events", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.INFO, logger="ticketbooth.audit")
    return caplog


def logged(caplog: Any) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "ticketbooth.audit"]


def test_lifecycle_events_with_changes_and_request_ids(client, audit_log):
    created = client.post("/v1/tickets", json={"path": DATA, "users": ["alice", "bob"], "uses_limit": 3})
    assert created.status_code == 201
    ticket_id = created.get_json()["id"]
    patched = client.patch(f"/v1/tickets/{ticket_id}", json={"uses_limit": 5, "label": "for bob"})
    assert patched.status_code == 200
    same = client.patch(f"/v1/tickets/{ticket_id}", json={"uses_limit": 5})  # nothing changes: no event
    assert same.status_code == 200
    revoked = client.delete(f"/v1/tickets/{ticket_id}")
    assert revoked.status_code == 204

    got = events(client, ticket_id=ticket_id)
    assert [e["action"] for e in got] == ["created", "modified", "revoked"]
    assert {e["actor"] for e in got} == {"alice"}
    assert [e["request_id"] for e in got] == [created.headers["X-Request-Id"], patched.headers["X-Request-Id"],
                                             revoked.headers["X-Request-Id"]]
    assert got[0]["detail"]["users"] == ["alice", "bob"] and got[0]["detail"]["uses_limit"] == 3
    assert got[1]["detail"] == {"changes": {"uses_limit": {"from": 3, "to": 5},
                                            "label": {"from": None, "to": "for bob"}}}
    assert got[2]["detail"] == {"path": DATA}
    assert got[0]["client_addr"] == "127.0.0.1"
    ticket_string = created.get_json()["ticket"]
    assert all(ticket_string not in json.dumps(e) for e in got)
    # The same events, as JSON lines of the audit logger.
    lines = [line for line in logged(audit_log) if line["ticket_id"] == ticket_id]
    assert [line["action"] for line in lines] == ["created", "modified", "revoked"]
    assert lines == got


def test_owners_see_their_tickets_events_admins_all(client):
    mine = client.create(DATA, users=["alice"])
    bobs = client.as_user("bob").create(f"/{ZONE}/home/bob", users=["bob"])
    assert {e["ticket_id"] for e in events(client)} == {mine["id"]}
    assert {e["ticket_id"] for e in events(client.as_user("bob"))} == {bobs["id"]}
    assert events(client.as_user("carol")) == []
    admin = client.as_user("root", admin=True)
    assert {mine["id"], bobs["id"]} <= {e["ticket_id"] for e in events(admin)}
    # A filter for someone else's ticket shows nothing, not an error (ids must not be probed).
    assert events(client, ticket_id=bobs["id"]) == []


def test_filters_cursor_and_bad_input(client, clock):
    first = client.create(DATA, users=["alice"])
    clock.advance(60)
    since = clock().isoformat()
    for label in ("a", "b", "c"):
        assert client.patch(f"/v1/tickets/{first['id']}", json={"label": label}).status_code == 200
    assert [e["action"] for e in events(client, since=since)] == ["modified"] * 3
    assert [e["action"] for e in events(client, action="created")] == ["created"]
    page = client.get("/v1/events", query_string={"limit": 2}).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get("/v1/events", query_string={"limit": 2, "cursor": page["next_cursor"]}).get_json()
    assert [e["id"] for e in page["items"] + rest["items"]] == [e["id"] for e in events(client)]
    assert rest["next_cursor"] is None
    for params in ({"action": "exploded"}, {"limit": 0}, {"since": "yesterday"}, {"since": "2030-01-01T00:00:00"},
                   {"cursor": "!!"}, {"ticket_id": "x"}):
        response = client.get("/v1/events", query_string=params)
        assert response.status_code == 422, params
        assert response.get_json()["code"] in ("validation_error", "invalid_cursor")
    assert client.as_user(None).get("/v1/events").status_code == 401


def _gateway(gw: Any) -> tuple[Any, Any]:
    """The gateway app and an API app over the same embedded backend (one audit store: its catalogue)."""
    app = create_gateway_app(gw.settings, backend=gw.backend, clock=gw.clock)
    api = create_app(gw.settings.replace(auth=dataclasses.replace(gw.settings.auth, hs256_secret="s" * 40)),
                     backend=gw.backend, clock=gw.clock)
    return app, api


def _api_events(api: Any, user: str = "root", admin: bool = True, **params: Any) -> list[dict[str, Any]]:
    from ticketbooth.api.auth import issue_dev_token

    settings = api.extensions["ticketbooth"].settings
    token = issue_dev_token(settings, user, admin, api.extensions["ticketbooth"].clock())
    response = api.test_client().get("/v1/events", query_string=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _ticket_usage(api: Any, ticket_id: int, gateway: Any = None) -> dict[str, Any]:
    from ticketbooth.api.auth import issue_dev_token

    if gateway is not None:
        gateway.decisions.audit.flush()  # what its background writer does within a second

    services = api.extensions["ticketbooth"]
    token = issue_dev_token(services.settings, "alice", False, services.clock())
    response = api.test_client().get(f"/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.get_json()


def test_gateway_refusals_are_denied_events_and_uses_are_counted(gw, audit_log):
    app, api = _gateway(gw)
    ticket = gw.ticket("ds1", uses_limit=2)
    s3 = gw.client(ticket)
    s3.world = dataclasses.replace(gw, app=app)
    assert s3.request("GET", "a.txt").status == 200
    gw.clock.advance(30)
    written = s3.request("PUT", "x.txt", body=b"no")  # a read ticket
    assert written.code == "AccessDenied"
    assert s3.request("GET", "a.txt").status == 200  # the last use
    refused = s3.request("GET", "a.txt")
    assert refused.code == "AccessDenied"
    unsigned = call_wsgi(app, "GET", f"/ticket-{ticket.id}/a.txt", remote_addr="198.51.100.7")
    assert unsigned.code == "AccessDenied"
    forged = gw.client(ticket)
    forged.secret = "wrong" * 8
    forged.world = s3.world
    assert forged.request("GET", "a.txt").code == "SignatureDoesNotMatch"

    got = _api_events(api, ticket_id=ticket.id)
    assert [e["action"] for e in got] == ["denied", "exhausted", "denied", "denied"]
    put, exhausted, used_up, bad_signature = got
    assert put["actor"] == "alice" and put["request_id"] == written.headers["x-amz-request-id"]
    assert put["detail"]["s3_code"] == "AccessDenied" and put["detail"]["method"] == "PUT"
    assert put["detail"]["source"] == "s3" and put["detail"]["authenticated"] is True
    assert exhausted["actor"] == "alice"
    assert used_up["detail"]["reason"] == "ticket_uses_exceeded"
    assert bad_signature["detail"]["s3_code"] == "SignatureDoesNotMatch"
    assert bad_signature["detail"]["authenticated"] is False
    # The unsigned request names no key, hence no ticket: an admin-only event.
    anonymous = [e for e in _api_events(api, action="denied") if e["request_id"] == unsigned.headers["x-amz-request-id"]]
    assert len(anonymous) == 1 and anonymous[0]["ticket_id"] is None and anonymous[0]["actor"] == "anonymous"
    assert anonymous[0]["client_addr"] == "198.51.100.7"
    assert all(forged.secret not in json.dumps(e) and s3.secret not in json.dumps(e) for e in got)
    # Owners see their ticket's refusals too.
    assert [e["action"] for e in _api_events(api, "alice", False, ticket_id=ticket.id)] == [e["action"] for e in got]

    usage = _ticket_usage(api, ticket.id, app)["usage"]
    assert usage["granted"] == 2 and usage["denied"] == 3
    assert usage["first_used_at"] == (gw.clock() - timedelta(seconds=30)).isoformat()  # the GET before the PUT
    assert usage["last_used_at"] == gw.clock().isoformat()
    assert [line["action"] for line in logged(audit_log) if line["ticket_id"] == ticket.id] == [
        e["action"] for e in got]


def test_expiry_is_recorded_once(gw):
    app, api = _gateway(gw)
    ticket = gw.ticket("ds1", expires_in=60)
    s3 = gw.client(ticket)
    s3.world = dataclasses.replace(gw, app=app)
    gw.clock.advance(120)
    for _ in range(3):
        assert s3.request("GET", "a.txt").code == "AccessDenied"
    _ticket_usage(api, ticket.id)  # the API noticing it again adds nothing
    actions = [e["action"] for e in _api_events(api, ticket_id=ticket.id)]
    assert actions == ["denied", "expired", "denied", "denied"]


def test_expiry_noticed_by_the_api(client, clock):
    ticket = client.create(DATA, users=["alice"], expires_in=60)
    clock.advance(120)
    assert client.get(f"/v1/tickets/{ticket['id']}").get_json()["status"] == "expired"
    assert client.get("/v1/tickets").status_code == 200
    assert [e["action"] for e in events(client, ticket_id=ticket["id"])] == ["created", "expired"]


def test_link_refusals(gw):
    app, api = _gateway(gw)
    ticket = gw.ticket("ds1", anonymous=True)
    assert call_wsgi(app, "GET", f"/_t/{ticket.string}/a.txt").status == 200
    missing = call_wsgi(app, "GET", f"/_t/{ticket.string}/nope.txt")
    assert missing.status == 404  # after a granted decision: not a refusal
    refused = call_wsgi(app, "PUT", f"/_t/{ticket.string}/a.txt")
    assert refused.status == 405
    unknown = call_wsgi(app, "GET", "/_t/NotATicketString/a.txt")
    assert unknown.status == 404
    got = _api_events(api, ticket_id=ticket.id)
    assert [(e["action"], e["actor"], e["detail"]["source"], e["detail"]["s3_code"]) for e in got] == [
        ("denied", "anonymous", "link", "MethodNotAllowed")]
    strangers = [e for e in _api_events(api, action="denied") if e["detail"]["source"] == "link" and
                 e["ticket_id"] is None]
    assert len(strangers) == 1
    assert all(ticket.string not in json.dumps(e) for e in _api_events(api))
    assert _ticket_usage(api, ticket.id, app)["usage"]["granted"] == 2


def test_store_failure_keeps_the_request_and_logs_the_event(client, audit_log, monkeypatch):
    store = client.client.application.extensions["ticketbooth"].audit.store

    def broken(event: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "append", broken)
    created = client.post("/v1/tickets", json={"path": DATA, "users": ["alice"]})
    assert created.status_code == 201
    assert [line["action"] for line in logged(audit_log)] == ["created"]
    assert any("audit store failed" in r.getMessage() for r in audit_log.records)


def test_public_bucket_refusals_name_the_ticket_not_its_bucket(gw):
    from ticketbooth.s3.buckets import public_bucket

    app, api = _gateway(gw)
    ticket = gw.ticket("ds1", anonymous=True)
    bucket = public_bucket(ticket.string)
    refused = call_wsgi(app, "PUT", f"/{bucket}/new.txt", body=b"x")
    assert refused.status == 403
    got = _api_events(api, ticket_id=ticket.id)
    assert [(e["action"], e["actor"], e["detail"]["path"]) for e in got] == [
        ("denied", "anonymous", "/pub-<redacted>/new.txt")]
    assert all(bucket not in json.dumps(e) and ticket.string not in json.dumps(e) for e in _api_events(api))


def test_usage_is_written_by_the_background_writer_within_a_second(tmp_path, clock):
    import time

    from ticketbooth.audit import AuditTrail
    from ticketbooth.auditstore import SqlAuditStore

    store = SqlAuditStore(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    trail = AuditTrail(store, clock, flush_seconds=0.05)
    try:
        for _ in range(5):
            trail.granted(42)
        trail.refused(42)
        deadline = time.monotonic() + 10
        while 42 not in store.usage([42]):  # read the store directly: not through trail.usage (which flushes)
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert (store.usage([42])[42].granted, store.usage([42])[42].denied) == (5, 1)
        while trail._flusher is not None:  # idle: the writer ends, and starts again with the next use
            assert time.monotonic() < deadline
            time.sleep(0.02)
        trail.granted(42)
    finally:
        trail.close()
    assert store.usage([42])[42].granted == 6
    store.close()


def test_a_process_leaving_normally_writes_its_last_counts(tmp_path):
    import subprocess
    import sys

    from ticketbooth.auditstore import SqlAuditStore

    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    script = (
        "from datetime import UTC, datetime\n"
        "from ticketbooth.audit import AuditTrail\n"
        "from ticketbooth.auditstore import SqlAuditStore\n"
        f"trail = AuditTrail(SqlAuditStore({url!r}), lambda: datetime.now(UTC), flush_seconds=3600)\n"
        "trail.granted(77)\ntrail.granted(77)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    store = SqlAuditStore(url)
    try:
        assert store.usage([77])[77].granted == 2  # written by the exit hook, not the hour-long interval
    finally:
        store.close()
