"""Authorization through the gateway: escapes, ticket types, limits, uses, revocation, hosts, addressing."""
from __future__ import annotations

import dataclasses
import os
from datetime import timedelta

import pytest

from ticketbooth.model import Access, Actor, TicketChanges
from ticketbooth.s3.access import RequestParts, authorize, authorize_link, object_path
from ticketbooth.s3.errors import S3Error

from .conftest import HOST, call_wsgi, make_world


def _uses(gw, ticket):
    return gw.backend.find_ticket(ticket.id).uses_count


@pytest.mark.parametrize("raw_key", [
    "..%2Fds10%2Fsecret.txt",  # encoded slash decodes to a '..' segment
    "../ds10/secret.txt",
    "sub/../../ds10/secret.txt",
    "./a.txt",
    "sub//b.bin",
    "%2Fa.txt",
    "sub%2F..%2F..%2Fds10%2Fsecret.txt",
    "a.txt%00",
    "..",
])
def test_key_escapes_are_refused_before_any_use(gw, raw_key):
    ticket = gw.ticket("ds1")
    client = gw.client(ticket)
    # The verifier canonicalizes %2F as "/" (decoded once, re-encoded with "/" kept); botocore signs the path
    # as written, so sign the decoded spelling and send the encoded one.
    signed = client.sign("GET", f"/{client.bucket}/{raw_key.replace('%2F', '/')}")
    result = call_wsgi(gw.app, "GET", f"/{client.bucket}/{raw_key}", signed)
    assert (result.status, result.code) == (400, "InvalidArgument")
    assert _uses(gw, ticket) == 0


def test_prefix_confusion_ds1_ds10_is_impossible(gw):
    client = gw.client(gw.ticket("ds1"))
    assert client.raw("GET", f"/{client.bucket}/secret.txt").code == "NoSuchKey"
    listing = client.request("GET", None, "list-type=2")
    assert "secret.txt" not in listing.body.decode()
    assert object_path(gw.ticket("ds1"), "x") == "/tempZone/home/alice/ds1/x"


def test_symlink_planted_on_disk_does_not_escape(gw):
    ds1 = os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds1")
    os.symlink(os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds10/secret.txt"),
               os.path.join(ds1, "link.txt"))
    os.symlink(os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds10"), os.path.join(ds1, "dirlink"))
    client = gw.client(gw.ticket("ds1", access=Access.WRITE))
    for key in ("link.txt", "dirlink/secret.txt"):
        result = client.request("GET", key)
        assert result.status in (403, 404), key
        assert b"not yours" not in result.body
    put = client.request("PUT", "dirlink/planted.txt", body=b"x")
    assert put.status in (403, 404)
    assert not os.path.exists(os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds10/planted.txt"))
    assert b"not yours" not in client.request("GET", None, "list-type=2").body


def test_read_ticket_cannot_write_or_delete(gw):
    ticket = gw.ticket("ds1")
    client = gw.client(ticket)
    for method, key, query in (("PUT", "new.txt", ""), ("DELETE", "a.txt", ""), ("POST", "new.txt", "uploads"),
                               ("POST", None, "delete")):
        body = b"<Delete><Object><Key>a.txt</Key></Object></Delete>" if query == "delete" else b"data"
        result = client.request(method, key, query, body=body)
        assert (result.status, result.code) == (403, "AccessDenied"), (method, key)
    assert client.request("GET", "a.txt").body == b"hello world"
    assert client.request("HEAD", "new.txt").status == 404
    assert _uses(gw, ticket) == 2  # the two successful requests only: refusals are not counted


def test_another_tickets_bucket_is_denied_and_unknown_names_are_no_such_bucket(gw):
    mine, other = gw.ticket("ds1"), gw.ticket("ds10")
    client = gw.client(mine)
    assert client.request("GET", "secret.txt", bucket=f"ticket-{other.id}").code == "AccessDenied"
    assert client.request("GET", "a.txt", bucket="ticket-999999").code == "AccessDenied"
    assert client.request("GET", "a.txt", bucket=f"ticket-0{mine.id}").code == "AccessDenied"
    missing = client.request("GET", "a.txt", bucket="somebucket")
    assert (missing.status, missing.code) == (404, "NoSuchBucket")
    assert _uses(gw, mine) == 0


def test_uses_are_counted_per_request_and_the_limit_is_never_overshot(gw):
    ticket = gw.ticket("ds1", uses_limit=3)
    client = gw.client(ticket)
    assert [client.request("HEAD", "a.txt").status for _ in range(3)] == [200, 200, 200]
    refused = client.request("GET", "a.txt")
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert "uses limit" in refused.xml().findtext("Message")
    assert _uses(gw, ticket) == 3


def test_expired_ticket(gw):
    ticket = gw.ticket("ds1", expires_in=60)
    client = gw.client(ticket)
    assert client.request("GET", "a.txt").status == 200
    gw.clock.advance(61)
    result = client.request("GET", "a.txt")
    assert (result.status, result.code) == (403, "AccessDenied")
    assert "expired" in result.xml().findtext("Message")


def test_revoked_ticket_key_fails_at_once(gw):
    ticket = gw.ticket("ds1")
    client = gw.client(ticket)
    assert client.request("GET", "a.txt").status == 200
    gw.backend.delete_ticket(Actor("alice"), ticket.id)
    result = client.request("GET", "a.txt")
    assert (result.status, result.code) == (403, "InvalidAccessKeyId")


def test_resolver_cache_does_not_outlive_revocation(tmp_path):
    from datetime import UTC, datetime

    from ticketbooth.gateway.app import create_gateway_app

    world = make_world(tmp_path, lambda: datetime(2030, 6, 1, 12, tzinfo=UTC))
    world.put("ds1/a.txt", b"x")
    cached = world.settings.replace(s3=dataclasses.replace(world.settings.s3, key_cache_ttl=300))
    world.app = create_gateway_app(cached, backend=world.backend, clock=world.clock)
    ticket = world.ticket("ds1")
    client = world.client(ticket)
    assert client.request("GET", "a.txt").status == 200  # key now cached for 300 s
    world.backend.delete_ticket(Actor("alice"), ticket.id)
    assert client.request("GET", "a.txt").code == "InvalidAccessKeyId"
    world.backend.close()


def test_a_loosening_patch_holds_at_once_though_the_key_is_cached(tmp_path):
    """The resolver's cached ticket (here for 300 s) can look used up or expired after a PATCH raised the limit or
    extended the expiry: the request is judged on the ticket as the backend holds it now, not on that copy."""
    from ticketbooth.gateway.app import create_gateway_app

    from .conftest import START, Clock

    clock = Clock(START)
    world = make_world(tmp_path, clock)
    world.put("ds1/a.txt", b"x")
    cached = world.settings.replace(s3=dataclasses.replace(world.settings.s3, key_cache_ttl=300))
    world.app = create_gateway_app(cached, backend=world.backend, clock=world.clock)
    used_up = world.ticket("ds1", uses_limit=1)
    world.backend.open_session(used_up, "alice", client_host=None, now=clock()).close()  # its one use
    expiring = world.ticket("ds1", expires_in=60)
    clock.advance(61)
    alice = Actor("alice")
    for ticket, code, loosened in ((used_up, "AccessDenied", TicketChanges(uses_limit=2)),
                                   (expiring, "AccessDenied", TicketChanges(expires_at=clock() + timedelta(hours=1)))):
        client = world.client(ticket)
        assert client.request("GET", "a.txt").code == code  # and the key is now cached with this ticket
        world.backend.modify_ticket(alice, ticket.id, loosened, now=clock())
        assert client.request("GET", "a.txt").status == 200
    world.backend.close()


def test_wrong_secret_and_unknown_key(gw):
    ticket = gw.ticket("ds1")
    client = gw.client(ticket)
    client.secret = "x" * 40
    assert client.request("GET", "a.txt").code == "SignatureDoesNotMatch"
    client.access_key = "TBNOTAREALKEY"
    assert client.request("GET", "a.txt").code == "InvalidAccessKeyId"
    assert _uses(gw, ticket) == 0


def test_unsigned_request_is_access_denied(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    result = call_wsgi(gw.app, "GET", f"/ticket-{ticket.id}/a.txt", {"Host": HOST})
    assert (result.status, result.code) == (403, "AccessDenied")


@pytest.mark.parametrize(("method", "uri", "headers"), [
    ("GET", "/ticket-{id}?acl", {}),
    ("GET", "/ticket-{id}/a.txt?tagging", {}),
    ("DELETE", "/ticket-{id}", {}),
    ("POST", "/ticket-{id}/a.txt", {}),
    ("PUT", "/ticket-{id}/a.txt?partNumber=1", {}),
    ("GET", "/ticket-{id}?list-type=3", {}),
    ("PATCH", "/ticket-{id}/a.txt", {}),
    ("PUT", "/", {}),
])
def test_unsigned_requests_are_refused_before_routing(gw, method, uri, headers):
    # Issue 9 item 14: an unsigned request must not learn what the gateway implements (501, 405, 400 ...)
    # before it is authenticated; the same request signed gets the routing answer.
    ticket = gw.ticket("ds1", access=Access.WRITE)
    raw = uri.format(id=ticket.id)
    result = call_wsgi(gw.app, method, raw, {"Host": HOST, **headers})
    assert (result.status, result.code) == (403, "AccessDenied")
    signed = gw.client(ticket).raw(method, raw, headers=headers)
    assert signed.status in (400, 405, 501) and signed.code != "AccessDenied"


def test_wrong_region_is_refused_except_for_location(gw):
    client = gw.client(gw.ticket("ds1"))
    client.region = "eu-west-1"
    result = client.request("GET", "a.txt")
    assert (result.status, result.code) == (400, "AuthorizationHeaderMalformed")
    assert result.xml().findtext("Region") == "us-east-1"
    gw.app.settings = gw.settings.replace(s3=dataclasses.replace(gw.settings.s3, region="eu-west-1"))
    client.region = "us-east-1"
    assert client.request("GET", None, "location").status == 200
    assert client.request("GET", "a.txt").code == "AuthorizationHeaderMalformed"


def test_user_ticket_keys_of_a_holder_no_longer_admitted_die(gw):
    ticket = gw.ticket("ds1", users=("alice", "bob"))
    bob = gw.client(ticket, "bob")
    assert bob.request("GET", "a.txt").status == 200
    gw.backend.modify_ticket(Actor("alice"), ticket.id, TicketChanges(users=("alice",)), now=gw.clock())
    assert bob.request("GET", "a.txt").code == "InvalidAccessKeyId"
    assert gw.client(ticket, "alice").request("GET", "a.txt").status == 200


def test_data_object_ticket_holds_exactly_its_basename(gw):
    ticket = gw.ticket("ds1/a.txt")
    client = gw.client(ticket)
    assert client.request("GET", "a.txt").body == b"hello world"
    assert client.request("GET", None, "list-type=2").findall("Contents/Key") == ["a.txt"]
    for key in ("sub/b.bin", "b.txt", "a.txt/x"):
        assert client.request("GET", key).code == "NoSuchKey"


def test_write_file_limit_refuses_and_leaves_nothing(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_file_limit=1)
    client = gw.client(ticket)
    assert client.request("PUT", "one.txt", body=b"1").status == 200
    result = client.request("PUT", "two.txt", body=b"2")
    assert (result.status, result.code) == (403, "AccessDenied")
    assert "write-file limit" in result.xml().findtext("Message")
    after = gw.backend.find_ticket(ticket.id)
    assert (after.write_file_count, after.uses_count) == (1, 2)  # the refused upload used the ticket, wrote nothing
    assert client.request("HEAD", "two.txt").status == 404


def test_write_byte_limit_refuses_and_leaves_nothing(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=100)
    client = gw.client(ticket)
    assert client.request("PUT", "small.txt", body=b"x" * 60).status == 200
    result = client.request("PUT", "big.txt", body=b"y" * 41)
    assert (result.status, result.code) == (403, "AccessDenied")
    assert "write-byte limit" in result.xml().findtext("Message")
    assert client.request("HEAD", "big.txt").status == 404
    assert not [n for n in os.listdir(os.path.join(gw.settings.data_dir, "zone/tempZone/home/alice/ds1"))
                if n.startswith("big")]


def test_refused_multipart_completion_leaves_nothing(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=3000)
    client = gw.client(ticket)
    upload_id = client.request("POST", "mp.bin", "uploads").find("UploadId")
    etags = [client.request("PUT", "mp.bin", f"partNumber={n}&uploadId={upload_id}", body=b"z" * 1200
                            ).headers["etag"] for n in (1, 2)]
    # A PutObject spends budget the staged parts had been admitted against (parts reserve, they do not spend).
    assert client.request("PUT", "other.bin", body=b"o" * 1000).status == 200
    body = ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in zip((1, 2), etags, strict=True))
        + "</CompleteMultipartUpload>").encode()
    result = client.request("POST", "mp.bin", f"uploadId={upload_id}", body=body)
    assert (result.status, result.code) == (403, "AccessDenied")
    assert client.request("HEAD", "mp.bin").status == 404


@pytest.mark.parametrize(("trusted", "peer", "xff", "allowed"), [
    ((), "192.0.2.10", None, True),
    ((), "198.51.100.1", None, False),
    ((), "198.51.100.1", "192.0.2.10", False),  # XFF from an untrusted peer is ignored
    (("198.51.100.0/24",), "198.51.100.1", "192.0.2.10", True),
    (("198.51.100.0/24",), "198.51.100.1", "192.0.2.10, 203.0.113.9", False),  # right-most untrusted hop
    (("198.51.100.0/24",), "198.51.100.1", "203.0.113.9, 192.0.2.10", True),
])
def test_host_allow_list_with_forwarded_for(tmp_path, trusted, peer, xff, allowed):
    from ..clock import Clock
    from .conftest import START

    world = make_world(tmp_path, Clock(START), trusted_proxies=trusted)
    world.put("ds1/a.txt", b"x")
    ticket = world.ticket("ds1", hosts=("192.0.2.0/28",))
    client = world.client(ticket)
    client.remote_addr = peer
    headers = {"X-Forwarded-For": xff} if xff else {}
    result = client.request("GET", "a.txt", headers=headers)
    if allowed:
        assert result.status == 200
    else:
        assert (result.status, result.code) == (403, "AccessDenied")
        assert "client address" in result.xml().findtext("Message")
    world.backend.close()


def test_virtual_hosted_style(tmp_path):
    from ..clock import Clock
    from .conftest import START

    world = make_world(tmp_path, Clock(START), base_domain="s3.example.test")
    world.put("ds1/a.txt", b"virtual")
    ticket = world.ticket("ds1")
    client = world.client(ticket)
    host = f"ticket-{ticket.id}.s3.example.test:9000"
    signed = client.sign("GET", "/a.txt", host=host)
    assert call_wsgi(world.app, "GET", "/a.txt", signed).body == b"virtual"
    listing = call_wsgi(world.app, "GET", "/?list-type=2", client.sign("GET", "/?list-type=2", host=host))
    assert b"<Key>a.txt</Key>" in listing.body
    world.backend.close()


def test_authorize_is_reusable_in_process(gw):
    ticket = gw.ticket("ds1")
    client = gw.client(ticket)
    headers = client.sign("GET", f"/{client.bucket}/sub/b.bin")
    parts = RequestParts("GET", f"/{client.bucket}/sub/b.bin", "", list(headers.items()), b"", "127.0.0.1")
    with authorize(parts, resolver=gw.resolver, backend=gw.backend, settings=gw.settings, now=gw.clock()) as d:
        assert (d.ticket_id, d.holder, d.path, d.access, d.anonymous, d.action, d.operation) == (
            ticket.id, "alice", "/tempZone/home/alice/ds1/sub/b.bin", Access.READ, False, "read", "GetObject")
        assert d.session.stat(d.path).size == 1024
        assert d.auth.access_key_id == client.access_key
    assert _uses(gw, ticket) == 1


def test_authorize_link_only_serves_anonymous_tickets(gw):
    from ticketbooth.errors import TicketNotFound

    user_ticket = gw.ticket("ds1")
    with pytest.raises(TicketNotFound):
        authorize_link(user_ticket.string, "a.txt", method="GET", backend=gw.backend, settings=gw.settings,
                       client_host=None, now=gw.clock())
    public = gw.ticket("ds1", anonymous=True)
    with pytest.raises(S3Error) as info:
        authorize_link(public.string, "../ds10/secret.txt", method="GET", backend=gw.backend,
                       settings=gw.settings, client_host=None, now=gw.clock())
    assert info.value.code == "InvalidArgument"
    with authorize_link(public.string, "sub/", method="GET", backend=gw.backend, settings=gw.settings,
                        client_host=None, now=gw.clock() + timedelta(seconds=1)) as decision:
        assert (decision.path, decision.action, decision.holder) == (
            "/tempZone/home/alice/ds1/sub", "list", "anonymous")
