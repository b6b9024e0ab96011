"""ticketbooth.gateway.socketbody: an upload's body read from gunicorn's socket, gunicorn's own bookkeeping kept.

Unit tests drive gunicorn's real ``Body``/``LengthReader``/``SocketUnreader`` over a socket pair; the live tests
run ``ticketbooth gateway`` (gunicorn) and send uploads with the next request pipelined behind the body.
"""
from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader

from ticketbooth.gateway.socketbody import SocketBody, direct_input
from ticketbooth.model import Access, Actor, TicketSpec
from ticketbooth.resolver import KeyResolver

from .test_server import gunicorn_gateway  # noqa: F401 - the fixture


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def gunicorn_body(sock: socket.socket, length: int, already: bytes = b"") -> Body:
    unreader = SocketUnreader(sock)
    if already:
        unreader.unread(already)  # what the head parser read past the head
    return Body(LengthReader(unreader, length))


def test_reads_the_held_bytes_then_the_socket_and_leaves_the_next_request(pair):
    server, client = pair
    body = gunicorn_body(server, 10, already=b"0123")
    environ = {"wsgi.input": body, "gunicorn.socket": server}
    direct_input(environ)
    stream = environ["wsgi.input"]
    assert isinstance(stream, SocketBody)
    client.sendall(b"456789GET / HTTP/1.1\r\n")
    buffer = bytearray(64)
    got = b""
    while count := stream.readinto(buffer):
        got += buffer[:count]
    assert got == b"0123456789"
    assert body.reader.length == 0 and body.read(1024) == b""  # gunicorn sees the body consumed
    assert body.reader.unreader.read() == b"GET / HTTP/1.1\r\n"  # the next request is intact


def test_held_bytes_beyond_the_body_stay_with_gunicorn(pair):
    server, _ = pair
    body = gunicorn_body(server, 3, already=b"abcNEXT")
    stream = SocketBody(body)
    assert stream.read(100) == b"abc" and stream.read(100) == b""
    assert body.reader.unreader.read() == b"NEXT"


def test_what_the_application_leaves_unread_is_drained_by_gunicorn(pair):
    server, client = pair
    body = gunicorn_body(server, 8)
    stream = SocketBody(body)
    client.sendall(b"12345678NEXT")
    assert stream.read(3) == b"123"
    assert body.read() == b"45678"  # gunicorn's own drain after the response reads exactly the rest
    assert body.reader.unreader.read() == b"NEXT"


def test_a_client_gone_mid_body_marks_the_body_failed(pair):
    server, client = pair
    body = gunicorn_body(server, 100)
    stream = SocketBody(body)
    client.sendall(b"short")
    client.close()
    assert stream.read(100) == b"short"
    assert stream.read(100) == b""
    assert body.failed is True  # gunicorn then closes the connection instead of parsing a next request


@pytest.mark.parametrize("environ", [
    lambda s: {"wsgi.input": io.BytesIO(b"x")},  # not gunicorn
    lambda s: {"wsgi.input": Body(ChunkedReader(None, SocketUnreader(s))), "gunicorn.socket": s},  # chunked
], ids=["other-server", "chunked"])
def test_other_inputs_are_kept(pair, environ):
    built = environ(pair[0])
    before = built["wsgi.input"]
    direct_input(built)
    assert built["wsgi.input"] is before


def test_a_body_already_read_from_is_kept(pair):
    server, client = pair
    body = gunicorn_body(server, 10)
    client.sendall(b"0123456789")
    assert body.read(2) == b"01"
    environ = {"wsgi.input": body, "gunicorn.socket": server}
    direct_input(environ)
    assert environ["wsgi.input"] is body


# -- live, under gunicorn ------------------------------------------------------------------------------

def _signed_put(url: str, akid: str, secret: str, length: int) -> dict[str, str]:
    request = AWSRequest(method="PUT", url=url, headers={"Content-Length": str(length)})
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})  # UNSIGNED-PAYLOAD
    S3SigV4Auth(Credentials(akid, secret), "s3", "us-east-1").add_auth(request)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}


def _request_bytes(method: str, path: str, host: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _responses(sock: socket.socket, count: int) -> list[Answer]:
    """``count`` HTTP/1.1 responses read off one connection (each with a Content-Length)."""
    reader = sock.makefile("rb")
    answers = []
    for _ in range(count):
        status = int(reader.readline().split()[1])
        headers = {}
        while (line := reader.readline().rstrip(b"\r\n")):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        answers.append(Answer(status, headers, reader.read(int(headers.get("content-length", "0")))))
    reader.close()
    return answers


def _credentials(backend, **limits):
    alice = Actor("alice")
    ticket = backend.create_ticket(alice, TicketSpec(path="/tempZone/home/alice/ds1", users=("alice",),
                                                     access=Access.WRITE, **limits), now=datetime.now(UTC))
    akid, secret = KeyResolver(backend, backend.master_key()).mint(ticket, "alice")
    return f"/ticket-{ticket.id}", akid, secret


def _stored(backend, name: str) -> bytes | None:
    path = os.path.join(backend.data_dir, "zone", "tempZone", "home", "alice", "ds1", name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as stream:
        return stream.read()


def _exchange(running, requests: bytes, count: int) -> list[Answer]:
    host, port = running.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(requests,))
        sender.start()
        answers = _responses(sock, count)
        sender.join()
    return answers


def test_uploads_on_one_keep_alive_connection_with_pipelined_requests(gunicorn_gateway):  # noqa: F811
    backend, running = gunicorn_gateway
    bucket, akid, secret = _credentials(backend)
    host = running.url.removeprefix("http://")
    data = os.urandom(3 * 1024 * 1024 + 17)
    first = _signed_put(f"{running.url}{bucket}/one.bin", akid, secret, len(data))
    second = _signed_put(f"{running.url}{bucket}/two.bin", akid, secret, 5)
    # The second request follows the first body at once: its head arrives with the first body's end.
    answers = _exchange(running, _request_bytes("PUT", f"{bucket}/one.bin", host, first) + data
                        + _request_bytes("PUT", f"{bucket}/two.bin", host, second) + b"hello", 2)
    assert [a.status for a in answers] == [200, 200], [a.body for a in answers]
    assert answers[0].headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert _stored(backend, "one.bin") == data and _stored(backend, "two.bin") == b"hello"


def test_a_body_refused_before_it_is_read_is_drained_and_the_connection_goes_on(gunicorn_gateway):  # noqa: F811
    backend, running = gunicorn_gateway
    bucket, akid, secret = _credentials(backend, write_byte_limit=1000)
    host = running.url.removeprefix("http://")
    data = os.urandom(30_000)  # gunicorn drains up to 64 KiB of an unread body and keeps the connection
    too_big = _signed_put(f"{running.url}{bucket}/big.bin", akid, secret, len(data))
    small = _signed_put(f"{running.url}{bucket}/small.bin", akid, secret, 5)
    answers = _exchange(running, _request_bytes("PUT", f"{bucket}/big.bin", host, too_big) + data
                        + _request_bytes("PUT", f"{bucket}/small.bin", host, small) + b"hello", 2)
    assert [a.status for a in answers] == [403, 200], [a.body for a in answers]
    assert _stored(backend, "big.bin") is None and _stored(backend, "small.bin") == b"hello"
