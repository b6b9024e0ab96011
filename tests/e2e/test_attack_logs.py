"""Issue 9, item 9: no presigned signature, link ticket string or token in any log line of either process.

The attack: gunicorn's error log printed the whole request line — a presigned URL's ``X-Amz-Signature``, an
anonymous link's ticket string — when a response iterator raised or a request was malformed, and its debug
``pre_request`` hook printed link paths. Here both processes run under **plain** gunicorn (no TicketBooth
logger class, its default access-log format, which prints the request line, and ``--log-level debug``), the
attack requests are sent, and the logs are searched for the secrets. Each attack must also have been logged
(``<redacted>`` where the secret was), so a silent log cannot pass.
"""
from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta

import boto3
import botocore.config
import pytest
import requests

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.model import Access, Actor, TicketSpec
from ticketbooth.resolver import KeyResolver
from ticketbooth.settings import load_settings

from .failing_reads import READABLE_BYTES, UNREADABLE_SUFFIX
from .servers import API_APP, GATEWAY_APP, Server, free_port

pytestmark = pytest.mark.clients

MiB = 1024 * 1024
LOG_ARGS = ("--log-level", "debug", "--access-logfile", "-", "--error-logfile", "-")


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("logs")
    data_dir = base / "data"
    ports = {"api": free_port(), "gateway": free_port()}
    failing_port = free_port()  # a gateway whose storage fails mid-read (tests/e2e/failing_reads.py)
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    config = base / "ticketbooth.toml"
    config.write_text(f'data_dir = "{data_dir}"\nlog_level = "DEBUG"\n[auth]\nhs256_secret = "{"h" * 40}"\n'
                      f'[s3]\nendpoint_url = "{gateway_url}"\nkey_cache_ttl = 0.0\n'
                      f'[embedded]\nusers = ["alice"]\n')
    settings = load_settings(config, environ={})
    backend = EmbeddedBackend.from_settings(settings)
    home = "/tempZone/home/alice"
    backend.put_object(f"{home}/ds/a.txt", b"hello")
    backend.put_object(f"{home}/ds/big.bin", os.urandom(64 * MiB))
    backend.put_object(f"{home}/ds/big{UNREADABLE_SUFFIX}", os.urandom(8 * MiB))
    alice = Actor("alice")
    now = datetime.now(UTC)
    link = backend.create_ticket(alice, TicketSpec(path=f"{home}/ds", access=Access.READ, users=(),
                                                   expires_at=now + timedelta(days=1)), now=now)
    keyed = backend.create_ticket(alice, TicketSpec(path=f"{home}/ds", access=Access.READ, users=("alice",)), now=now)
    akid, secret = KeyResolver(backend, backend.master_key(), ttl=0).mint(keyed, "alice")
    env = {"TICKETBOOTH_CONFIG": str(config)}
    servers = [Server(GATEWAY_APP, ports["gateway"], env, base / "gateway.log", args=LOG_ARGS),
               Server(API_APP, ports["api"], env, base / "api.log", args=LOG_ARGS),
               Server("tests.e2e.failing_reads:create_app()", failing_port, env, base / "failing.log",
                      args=LOG_ARGS)]
    try:
        servers[0].wait_ready("/")
        servers[1].wait_ready("/healthz")
        servers[2].wait_ready("/")

        def s3_client(url: str):
            return boto3.client("s3", endpoint_url=url, aws_access_key_id=akid, aws_secret_access_key=secret,
                                region_name="us-east-1", config=botocore.config.Config(signature_version="s3v4"))

        yield {"servers": servers, "ports": ports, "s3": s3_client(gateway_url), "bucket": f"ticket-{keyed.id}",
               "link": link.string, "secret": secret, "disk": data_dir / "zone/tempZone/home/alice/ds/big.bin",
               "settings": settings, "gateway_url": gateway_url, "failing_port": failing_port,
               "failing_s3": s3_client(servers[2].url)}
    finally:
        for server in servers:
            server.stop()
        backend.close()


def _signature(url: str) -> str:
    return next(p.partition("=")[2] for p in url.partition("?")[2].split("&") if p.startswith("X-Amz-Signature="))


def _logs(world) -> str:
    time.sleep(0.5)  # let gunicorn flush
    return "".join(server.log_path.read_text(errors="replace") for server in world["servers"])


def _presigned_get(world, client: str, port: int, key: str, headers: str = "") -> tuple[str, socket.socket]:
    """Send a presigned GET of ``key`` to ``port`` on a raw socket; (its signature, the connected socket)."""
    url = world[client].generate_presigned_url("get_object", Params={"Bucket": world["bucket"], "Key": key},
                                               ExpiresIn=600)
    path = url.split(str(port), 1)[1]
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
    return _signature(url), sock


def _rest(sock: socket.socket) -> int:
    """Bytes received until the server ends the connection (or goes quiet for the socket's timeout)."""
    received = 0
    try:
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return received


FAILED_BODY = "response body failed after its headers were sent (OSError)"


def test_a_failing_response_body_logs_no_presigned_signature(world):
    # The storage fails after the first MiB, inside the gateway's own body iterator (tests/e2e/failing_reads.py):
    # the failure after the headers must be logged without the request line that holds the signature.
    logged = _logs(world).count(FAILED_BODY)
    signature, sock = _presigned_get(world, "failing_s3", world["failing_port"], f"big{UNREADABLE_SUFFIX}")
    with sock:
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        received = len(head.partition(b"\r\n\r\n")[2]) + _rest(sock)
    assert READABLE_BYTES <= received < 8 * MiB  # the readable MiB, then cut short rather than hanging
    logs = _logs(world)
    assert signature not in logs and world["secret"] not in logs
    assert logs.count(FAILED_BODY) == logged + 1


def test_a_file_shrinking_under_sendfile_logs_no_presigned_signature(world):
    # A range of a local file goes out with sendfile, which stops silently where a shrunk file ends: the
    # gateway notices when the response closes, logs it (without the request) and aborts the connection.
    logged = _logs(world).count(FAILED_BODY)
    signature, sock = _presigned_get(world, "s3", world["ports"]["gateway"], "big.bin",
                                     f"Range: bytes=0-{64 * MiB - 2}\r\n")
    with sock:
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 206"), head[:200]
        with open(world["disk"], "r+b") as handle:
            handle.truncate(0)  # the object shrinks under the download
        received = _rest(sock)
    assert received < 64 * MiB  # cut short, not hanging
    logs = _logs(world)
    assert signature not in logs and world["secret"] not in logs
    assert logs.count(FAILED_BODY) == logged + 1


def test_malformed_requests_log_no_signature_or_link_string(world):
    signature = "5f" * 32
    link = world["link"]
    for port in world["ports"].values():
        for line in (f"GET /_t/{link}/a.txt?X-Amz-Signature={signature}\r\n\r\n",  # no version
                     f"GET /_t/{link}/a.txt?X-Amz-Signature={signature} HTTP/1.1 junk\r\n\r\n",
                     f"GET /ticket-1/a.txt?X-Amz-Signature={signature}&x=%zz HTTP/9.9\r\n\r\n",
                     f"GET /_t/{link}/a.txt HTTP/1.1\r\nBad Header: {signature}\r\n\r\n"):
            answer = _raw(port, line.encode())
            assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    logs = _logs(world)
    assert signature not in logs and link not in logs
    assert "Invalid request from ip=" in logs and "<redacted>" in logs


def test_debug_pre_request_and_access_lines_hide_link_strings_and_tokens(world):
    link = world["link"]
    assert requests.get(f"{world['gateway_url']}/_t/{link}/a.txt", timeout=10).content == b"hello"
    token = issue_dev_token(world["settings"], "alice", False, datetime.now(UTC))
    api = f"http://127.0.0.1:{world['ports']['api']}"
    assert requests.get(f"{api}/v1/tickets?access_token={token}", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 200
    presigned = world["s3"].generate_presigned_url("get_object", Params={"Bucket": world["bucket"], "Key": "a.txt"})
    assert requests.get(presigned, timeout=10).content == b"hello"
    logs = _logs(world)
    assert link not in logs and token not in logs and _signature(presigned) not in logs
    assert "/_t/<redacted>/a.txt" in logs  # the pre_request/access lines were written, redacted


def test_gunicorn_limits_answer_as_documented_without_logging_the_request(world):
    # docs/security.md: gunicorn answers these itself (text/html, Connection: close) before the app runs.
    link = world["link"]
    for port in world["ports"].values():
        too_long = _raw(port, f"GET /_t/{link}/{'a' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert too_long.startswith(b"HTTP/1.1 414 "), too_long[:80]
        headers = "".join(f"X-H{i}: v\r\n" for i in range(101))
        too_many = _raw(port, f"GET /_t/{link}/a.txt HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert too_many.startswith(b"HTTP/1.1 431 "), too_many[:80]
        too_big = _raw(port, f"GET /_t/{link}/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 9000}\r\n\r\n".encode())
        assert too_big.startswith(b"HTTP/1.1 431 "), too_big[:80]
    assert link not in _logs(world)


def test_public_bucket_names_never_reach_the_logs(world):
    """A public bucket's name is its ticket string (``pub-<base32>``): path-style and virtual-host requests,
    granted and refused, are logged with the name redacted."""
    from ticketbooth.s3.buckets import public_bucket

    bucket = public_bucket(world["link"])
    encoded = bucket.removeprefix("pub-")
    url = world["gateway_url"]
    assert requests.get(f"{url}/{bucket}/a.txt", timeout=10).content == b"hello"
    assert requests.get(f"{url}/{bucket}/missing.txt", timeout=10).status_code == 404
    assert requests.put(f"{url}/{bucket}/new.txt", data=b"x", timeout=10).status_code == 403
    host = f"{bucket}.127.0.0.1:{world['ports']['gateway']}"
    answer = _raw(world["ports"]["gateway"], f"GET /a.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                  .encode())
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    logs = _logs(world)
    assert encoded not in logs and world["link"] not in logs
    assert "pub-<redacted>" in logs
