"""Issue 9, item 3: multipart uploads bypassed the write limits and never expired.

The attack spooled 25 MB through a 1,000-byte write ticket, kept the parts after the ticket was revoked, and
nothing ever removed them. Each test below is one part of that attack, now refused or cleaned up:
staged bytes count against the remaining write budget and a per-ticket cap (under concurrency too), uploads
die with their ticket (revoked, expired, exhausted) and after ``gateway.multipart_expiry``, a crashed
worker's part files go at start-up, and an upload belongs to the holder that created it.
"""
from __future__ import annotations

import fcntl
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from ticketbooth.gateway.app import create_gateway_app
from ticketbooth.gateway.multipart import SWEEP_INTERVAL
from ticketbooth.model import Access, Actor

from ..clock import Clock
from .conftest import START, make_world


def _create(client, key="big.bin"):
    result = client.request("POST", key, "uploads")
    assert result.status == 200, result.body
    return result.find("UploadId")


def _part(client, upload_id, number, data, key="big.bin"):
    return client.request("PUT", key, f"partNumber={number}&uploadId={upload_id}", body=data)


def _spool(gw):
    return gw.app.multipart.spool_dir


def _staged_files(gw, ticket_id):
    root = os.path.join(_spool(gw), str(ticket_id))
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n != "upload.json"]


def _staged(gw, ticket_id):
    return sum(os.path.getsize(p) for p in _staged_files(gw, ticket_id))


def _world(tmp_path, **gateway):
    world = make_world(tmp_path, Clock(START), **gateway)
    world.put("ds1/a.txt", b"hello world")
    return world


# -- budget ---------------------------------------------------------------------------------------------


def test_parts_beyond_the_write_byte_limit_are_refused(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=1000)
    client = gw.client(ticket)
    first, second = _create(client), _create(client, "other.bin")
    assert _part(client, first, 1, b"a" * 400).status == 200
    assert _part(client, second, 1, b"b" * 400, key="other.bin").status == 200
    refused = _part(client, first, 2, b"c" * 400)  # 1,200 > 1,000, counted across both uploads
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert "write-byte limit" in refused.xml().findtext("Message")
    assert _staged(gw, ticket.id) == 800
    assert _part(client, first, 2, b"c" * 200).status == 200  # exactly the budget left
    assert _part(client, first, 3, b"d").code == "AccessDenied"
    # Re-sending a part replaces it: only the difference counts.
    assert _part(client, first, 2, b"e" * 200).status == 200
    assert _staged(gw, ticket.id) == 1000


def test_the_original_attack_spools_nothing_beyond_the_limit(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=1000)
    client = gw.client(ticket)
    upload_id = _create(client)
    answers = [_part(client, upload_id, n, b"x" * 100_000).status for n in range(1, 26)]
    assert answers == [403] * 25
    assert _staged(gw, ticket.id) == 0


def test_the_budget_is_what_remains_after_earlier_writes(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=1000)
    client = gw.client(ticket)
    assert client.request("PUT", "small.bin", body=b"s" * 700).status == 200
    upload_id = _create(client)
    assert _part(client, upload_id, 1, b"p" * 301).code == "AccessDenied"
    assert _part(client, upload_id, 1, b"p" * 300).status == 200


def test_staged_bytes_per_ticket_are_capped(tmp_path):
    world = _world(tmp_path, multipart_max_staged_bytes=2500)
    client = world.client(world.ticket("ds1", access=Access.WRITE))
    upload_id = _create(client)
    assert _part(client, upload_id, 1, b"a" * 2000).status == 200
    refused = _part(client, upload_id, 2, b"b" * 1000)
    assert (refused.status, refused.code) == (400, "EntityTooLarge")
    assert refused.xml().findtext("MaxSizeAllowed") == "2500"
    world.backend.close()


def test_no_upload_starts_once_the_write_file_limit_is_reached(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_file_limit=1)
    client = gw.client(ticket)
    assert client.request("PUT", "one.bin", body=b"1").status == 200
    refused = client.request("POST", "big.bin", "uploads")
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert not os.path.isdir(os.path.join(_spool(gw), str(ticket.id))) or not _staged_files(gw, ticket.id)


def test_a_part_longer_than_its_declared_length_is_refused(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=1000)
    client = gw.client(ticket)
    upload_id = _create(client)
    raw = f"/{client.bucket}/big.bin?partNumber=1&uploadId={upload_id}"
    signed = client.sign("PUT", raw, b"y" * 900)
    signed["Content-Length"] = "10"  # declares 10 bytes, sends 900
    from .conftest import call_wsgi

    result = call_wsgi(gw.app, "PUT", raw, signed, b"y" * 900)
    assert result.status == 400
    assert _staged(gw, ticket.id) <= 10


def test_concurrent_parts_never_overshoot_the_limit(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_byte_limit=1000)
    client = gw.client(ticket)
    uploads = [_create(client, f"k{i}") for i in range(4)]
    barrier = threading.Barrier(8)

    def send(i):
        barrier.wait()
        return _part(client, uploads[i % 4], 1 + i // 4, b"z" * 300, key=f"k{i % 4}").status

    for _ in range(3):  # several rounds: each adds to the same budget
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, range(8)))
        assert set(statuses) <= {200, 403}
        assert _staged(gw, ticket.id) <= 1000
    assert _staged(gw, ticket.id) == 900  # three 300-byte parts fit, whoever sent them


# -- holders --------------------------------------------------------------------------------------------


def test_another_holder_of_the_ticket_cannot_see_extend_or_abort_an_upload(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, users=("alice", "bob"))
    alice, bob = gw.client(ticket, "alice"), gw.client(ticket, "bob")
    upload_id = _create(alice)
    assert _part(alice, upload_id, 1, b"mine").status == 200
    assert bob.request("GET", None, "uploads").findall("Upload/UploadId") == []
    assert _part(bob, upload_id, 2, b"theirs").code == "NoSuchUpload"
    assert bob.request("GET", "big.bin", f"uploadId={upload_id}").code == "NoSuchUpload"
    complete = (b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
                b"</CompleteMultipartUpload>")
    assert bob.request("POST", "big.bin", f"uploadId={upload_id}", body=complete).code == "NoSuchUpload"
    assert bob.request("DELETE", "big.bin", f"uploadId={upload_id}").code == "NoSuchUpload"
    assert alice.request("GET", None, "uploads").findall("Upload/UploadId") == [upload_id]
    assert alice.request("GET", "big.bin", f"uploadId={upload_id}").findall("Part/PartNumber") == ["1"]


# -- clean-up -------------------------------------------------------------------------------------------


def _upload_dirs(gw, ticket_id):
    root = os.path.join(_spool(gw), str(ticket_id))
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _next_sweep(gw, seconds=SWEEP_INTERVAL + 1):
    gw.clock.advance(seconds)
    gw.app(_environ(), lambda *a, **k: None)  # any request runs the due sweep


def _environ():
    import io

    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "RAW_URI": "/", "QUERY_STRING": "", "SERVER_NAME": "x",
            "SERVER_PORT": "9000", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1"}


def test_uploads_of_a_revoked_ticket_are_aborted(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE)
    client = gw.client(ticket)
    _part(client, _create(client), 1, b"x" * 100)
    gw.backend.delete_ticket(Actor("alice"), ticket.id)
    _next_sweep(gw)
    assert not os.path.exists(os.path.join(_spool(gw), str(ticket.id)))


def test_uploads_of_an_expired_ticket_are_aborted(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, expires_in=60)
    client = gw.client(ticket)
    _part(client, _create(client), 1, b"x" * 100)
    keeper = gw.ticket("ds1", access=Access.WRITE)
    kept = _create(gw.client(keeper))
    _next_sweep(gw)
    assert not os.path.exists(os.path.join(_spool(gw), str(ticket.id)))
    assert _upload_dirs(gw, keeper.id) == [kept]


def test_uploads_of_an_exhausted_ticket_are_aborted(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, uses_limit=3)
    client = gw.client(ticket)
    _part(client, _create(client), 1, b"x" * 100)  # uses 2 of 3
    client.request("GET", None, "uploads")  # the last use
    _next_sweep(gw)
    assert not os.path.exists(os.path.join(_spool(gw), str(ticket.id)))


def test_completing_the_last_write_file_aborts_the_tickets_other_uploads(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE, write_file_limit=1)
    client = gw.client(ticket)
    first, other = _create(client), _create(client, "other.bin")
    etag = _part(client, first, 1, b"x" * 10).headers["etag"]
    _part(client, other, 1, b"y" * 10, key="other.bin")
    body = f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>" \
           "</CompleteMultipartUpload>"
    assert client.request("POST", "big.bin", f"uploadId={first}", body=body.encode()).status == 200
    assert _upload_dirs(gw, ticket.id) == []


def test_abandoned_uploads_expire_after_seven_days_by_default(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE)
    client = gw.client(ticket)
    old = _create(client)
    _part(client, old, 1, b"x" * 100)
    gw.clock.advance(6 * 86400)
    young = _create(client, "young.bin")
    _next_sweep(gw, 86400 - 10)  # old is 7 days minus 10 s + nothing: still there
    assert _upload_dirs(gw, ticket.id) == sorted([old, young])
    _next_sweep(gw)
    assert _upload_dirs(gw, ticket.id) == [young]
    assert client.request("GET", None, "uploads").findall("Upload/UploadId") == [young]


def test_the_expiry_is_configurable(tmp_path):
    world = _world(tmp_path, multipart_expiry=3600)
    ticket = world.ticket("ds1", access=Access.WRITE)
    upload_id = _create(world.client(ticket))
    _next_sweep(world, 3000)
    assert _upload_dirs(world, ticket.id) == [upload_id]
    _next_sweep(world, 700)
    assert _upload_dirs(world, ticket.id) == []
    world.backend.close()


def test_orphan_part_files_of_a_crashed_worker_go_at_start_up(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE)
    client = gw.client(ticket)
    upload_id = _create(client)
    assert _part(client, upload_id, 1, b"kept").status == 200
    directory = os.path.join(_spool(gw), str(ticket.id), upload_id)
    orphan = os.path.join(directory, ".part-00002-5000000-crashedAAAA")
    live = os.path.join(directory, ".part-00003-100-stillwriting")
    for path in (orphan, live):
        with open(path, "wb") as handle:
            handle.write(b"partial")
    holder = os.open(live, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a worker still writing this one
    try:
        assert gw.app.multipart.staged_bytes(ticket.id) == 4 + 5_000_000 + 100
        restarted = create_gateway_app(gw.settings, backend=gw.backend, clock=gw.clock, min_part_size=1024)
        assert not os.path.exists(orphan)
        assert os.path.exists(live)
        assert restarted.multipart.staged_bytes(ticket.id) == 4 + 100
        assert client.request("GET", "big.bin", f"uploadId={upload_id}").findall("Part/PartNumber") == ["1"]
    finally:
        os.close(holder)


@pytest.mark.parametrize("garbage", ["../escape", "12abc", ".locks"])
def test_the_sweep_ignores_what_it_did_not_make(gw, garbage):
    path = os.path.join(_spool(gw), garbage.replace("../", ""))
    os.makedirs(path, exist_ok=True)
    gw.app.sweep_multipart()
    assert os.path.isdir(path)


def test_spool_files_are_private(gw):
    ticket = gw.ticket("ds1", access=Access.WRITE)
    client = gw.client(ticket)
    upload_id = _create(client)
    _part(client, upload_id, 1, b"x")
    directory = os.path.join(_spool(gw), str(ticket.id), upload_id)
    assert os.stat(directory).st_mode & 0o077 == 0
    for name in os.listdir(directory):
        assert os.stat(os.path.join(directory, name)).st_mode & 0o077 == 0, name


def test_sweep_interval_spares_the_backend(gw, monkeypatch):
    calls = []
    original = gw.backend.find_ticket
    monkeypatch.setattr(gw.backend, "find_ticket", lambda i: calls.append(i) or original(i))
    ticket = gw.ticket("ds1", access=Access.WRITE)
    _create(gw.client(ticket))
    calls.clear()
    _next_sweep(gw, 10)
    assert ticket.id not in calls  # not due yet
    _next_sweep(gw, timedelta(seconds=SWEEP_INTERVAL).total_seconds())
    assert ticket.id in calls
