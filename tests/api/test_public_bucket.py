"""``s3.public_bucket`` on the ticket resource: anonymous tickets only, shown to those who manage the ticket."""
from __future__ import annotations

from ticketbooth.s3.buckets import public_bucket

DATA = "/tempZone/home/alice/data"


def test_anonymous_ticket_shows_its_public_bucket_to_owner_and_admin(client):
    body = client.create(DATA, anonymous=True)
    assert body["s3"]["public_bucket"] == public_bucket(body["ticket"])
    assert body["s3"]["bucket"] == f"ticket-{body['id']}"
    admin = client.as_user("root", admin=True).get(f"/v1/tickets/{body['id']}").get_json()
    assert admin["s3"]["public_bucket"] == body["s3"]["public_bucket"]


def test_user_scoped_tickets_have_none_and_holders_never_see_one(client):
    scoped = client.create(DATA, users=["bob"])
    assert "public_bucket" not in scoped["s3"]
    assert "public_bucket" not in client.as_user("bob").get(f"/v1/tickets/{scoped['id']}").get_json()["s3"]
    listed = client.get("/v1/tickets").get_json()["items"]
    assert [("public_bucket" in t["s3"]) for t in listed] == [False]
