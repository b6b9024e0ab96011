"""Anonymous tickets as public buckets: unsigned S3 reads through ``pub-<ticket string, base32>``."""
from __future__ import annotations

import pytest

from ticketbooth.model import Access, Actor
from ticketbooth.s3.buckets import public_bucket, public_ticket_string

from .conftest import call_wsgi


def unsigned(gw, method, uri, headers=None, body=b""):
    return call_wsgi(gw.app, method, uri, {"Host": "127.0.0.1:9000", **(headers or {})}, body)


@pytest.fixture
def public(gw):
    ticket = gw.ticket(anonymous=True)
    return ticket, public_bucket(ticket.string)


def test_the_name_round_trips_and_only_the_canonical_spelling_is_one():
    name = public_bucket("IEZe3TDxt28xPiy")
    assert name.startswith("pub-") and name == name.lower() and 3 <= len(name) <= 63
    assert public_ticket_string(name) == "IEZe3TDxt28xPiy"
    for other in ("ticket-7", name.upper(), name[:-1], name + "a", "pub-", "pub-11111111", None):
        assert public_ticket_string(other) is None


def test_unsigned_list_head_and_get(gw, public):
    ticket, bucket = public
    listing = unsigned(gw, "GET", f"/{bucket}?list-type=2")
    assert listing.status == 200
    assert listing.find("Name") == bucket  # never the ticket id
    assert sorted(listing.findall("Contents/Key")) == ["a.txt", "sub/b.bin"]
    v1 = unsigned(gw, "GET", f"/{bucket}?prefix=sub/")
    assert v1.findall("Contents/Key") == ["sub/b.bin"]
    assert unsigned(gw, "HEAD", f"/{bucket}").status == 200
    head = unsigned(gw, "HEAD", f"/{bucket}/a.txt")
    assert head.status == 200 and head.headers["content-length"] == "11"
    ranged = unsigned(gw, "GET", f"/{bucket}/a.txt", {"Range": "bytes=0-4"})
    assert (ranged.status, ranged.body) == (206, b"hello")
    assert unsigned(gw, "GET", f"/{bucket}/missing").code == "NoSuchKey"
    assert gw.backend.find_ticket(ticket.id).uses_count == 6  # one use per request, as for links


@pytest.mark.parametrize("method,uri,body", [
    ("PUT", "/new.txt", b"x"), ("DELETE", "/a.txt", b""), ("POST", "/big?uploads", b""),
    ("GET", "?uploads", b""), ("PUT", "", b""),
    ("POST", "?delete", b"<Delete><Object><Key>a.txt</Key></Object></Delete>"),
])
def test_public_buckets_are_read_only_even_for_write_tickets(gw, method, uri, body):
    ticket = gw.ticket(anonymous=True, access=Access.WRITE)
    result = unsigned(gw, method, f"/{public_bucket(ticket.string)}{uri}", body=body)
    assert (result.status, result.code) == (403, "AccessDenied")
    assert gw.backend.find_ticket(ticket.id).uses_count == 0


def test_unsigned_requests_anywhere_else_stay_refused(gw, public):
    ticket, _ = public
    scoped = gw.ticket()  # a user-scoped ticket's string makes no public bucket
    for uri in (f"/ticket-{ticket.id}?list-type=2", f"/ticket-{ticket.id}/a.txt", "/",
                f"/{public_bucket(scoped.string)}/a.txt", f"/{public_bucket('NoSuchTicket123')}/a.txt",
                "/pub-zzzzzzzz/a.txt"):
        result = unsigned(gw, "GET", uri)
        assert (result.status, result.code) == (403, "AccessDenied"), uri
    assert gw.backend.find_ticket(scoped.id).uses_count == 0 and gw.backend.find_ticket(ticket.id).uses_count == 0


def test_revocation_expiry_and_uses_limit_end_it_at_once(gw):
    revoked = gw.ticket(anonymous=True)
    assert unsigned(gw, "GET", f"/{public_bucket(revoked.string)}/a.txt").status == 200
    gw.backend.delete_ticket(Actor("alice"), revoked.id)
    assert unsigned(gw, "GET", f"/{public_bucket(revoked.string)}/a.txt").status == 403

    expiring = gw.ticket(anonymous=True, expires_in=60)
    assert unsigned(gw, "GET", f"/{public_bucket(expiring.string)}/a.txt").status == 200
    gw.clock.advance(60)
    assert unsigned(gw, "GET", f"/{public_bucket(expiring.string)}/a.txt").status == 403

    limited = gw.ticket(anonymous=True, uses_limit=2)
    bucket = public_bucket(limited.string)
    assert [unsigned(gw, "GET", f"/{bucket}/a.txt").status for _ in range(3)] == [200, 200, 403]


def test_a_data_object_ticket_is_a_bucket_of_one_key(gw):
    ticket = gw.ticket("ds1/a.txt", anonymous=True)
    bucket = public_bucket(ticket.string)
    assert unsigned(gw, "GET", f"/{bucket}?list-type=2").findall("Contents/Key") == ["a.txt"]
    assert unsigned(gw, "GET", f"/{bucket}/a.txt").body == b"hello world"
    assert unsigned(gw, "GET", f"/{bucket}/other").code == "NoSuchKey"


def test_host_allow_lists_apply(gw):
    ticket = gw.ticket(anonymous=True, hosts=("10.0.0.0/8",))
    result = unsigned(gw, "GET", f"/{public_bucket(ticket.string)}/a.txt")
    assert result.status == 403

