"""``ticketbooth gateway`` under gunicorn in a subprocess (raw URI from gunicorn's RAW_URI), and log redaction."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.gateway.server import redact_path
from ticketbooth.model import Actor, TicketSpec
from ticketbooth.resolver import KeyResolver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningGateway:
    """A ``ticketbooth gateway`` subprocess; :meth:`stop` ends it and returns everything it logged."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process, self.url = process, url
        self._output: str | None = None

    def stop(self) -> str:
        if self._output is None:
            self.process.terminate()
            try:
                raw = self.process.communicate(timeout=15)[0]
            except subprocess.TimeoutExpired:
                self.process.kill()
                raw = self.process.communicate()[0]
            self._output = raw.decode(errors="replace")
        return self._output


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as listing:
        return [int(child) for child in listing.read().split()]


@pytest.fixture
def gunicorn_gateway(tmp_path):
    """``ticketbooth gateway`` with two worker processes: a revocation must hold in the worker that did not see it."""
    data_dir = str(tmp_path / "data")
    backend = EmbeddedBackend(data_dir, "tempZone", users=("alice",))
    backend.put_object("/tempZone/home/alice/ds1/a b.txt", b"served by gunicorn")
    port = _free_port()
    env = dict(os.environ, TICKETBOOTH_S3__KEY_CACHE_TTL="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketbooth.cli", "gateway", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", data_dir, "--workers", "2", "--threads", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    running = RunningGateway(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start: " + running.stop()) from None
            time.sleep(0.1)
    while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield backend, running
    finally:
        running.stop()
        backend.close()


def test_gunicorn_serves_signed_requests_and_links_without_logging_secrets(gunicorn_gateway):
    backend, running = gunicorn_gateway
    url = running.url
    assert len(_children(running.process.pid)) == 2
    now = datetime.now(UTC)
    alice = Actor("alice")
    ticket = backend.create_ticket(alice, TicketSpec(path="/tempZone/home/alice/ds1", users=("alice",)), now=now)
    public = backend.create_ticket(alice, TicketSpec(path="/tempZone/home/alice/ds1",
                                                     expires_at=now + timedelta(hours=1)), now=now)
    akid, secret = KeyResolver(backend, backend.master_key()).mint(ticket, "alice")
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=akid, aws_secret_access_key=secret,
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"},
                                                             retries={"max_attempts": 1}))
    bucket = f"ticket-{ticket.id}"
    assert s3.get_object(Bucket=bucket, Key="a b.txt")["Body"].read() == b"served by gunicorn"
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a b.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(presigned) as response:  # noqa: S310 - loopback
        assert response.read() == b"served by gunicorn"
    with urllib.request.urlopen(f"{url}/_t/{public.string}/a%20b.txt") as response:  # noqa: S310
        assert response.read() == b"served by gunicorn"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/_t/{public.string}/missing")  # noqa: S310
    assert info.value.code == 404
    backend.delete_ticket(alice, public.id)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/_t/{public.string}/a%20b.txt")  # noqa: S310
    assert info.value.code == 404
    assert b"revoked" in info.value.read()
    log = running.stop()
    assert "/_t/<redacted>/a%20b.txt" in log or "/_t/<redacted>/a b.txt" in log
    query = presigned.partition("?")[2]
    signature = next(p.partition("=")[2] for p in query.split("&") if p.startswith(("Signature=", "X-Amz-Signature=")))
    assert signature not in log
    assert public.string not in log
    assert secret not in log


@pytest.mark.parametrize(("path", "expected"), [
    ("/_t/AbCdEfGhIjKlMnO/dir/file.txt", "/_t/<redacted>/dir/file.txt"),
    ("/_t/AbCdEfGhIjKlMnO", "/_t/<redacted>/"),
    ("/ticket-1/key", "/ticket-1/key"),
])
def test_redact_path(path, expected):
    assert redact_path(path) == expected


def test_access_log_atoms_hide_query_and_link_strings():
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig

    from ticketbooth.gateway.accesslog import RedactingLogger

    logger = RedactingLogger(GunicornConfig())
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/_t/SECRETSTRING123/x", "QUERY_STRING": "X-Amz-Signature=abc",
               "SERVER_PROTOCOL": "HTTP/1.1", "RAW_URI": "/_t/SECRETSTRING123/x?X-Amz-Signature=abc"}
    req = SimpleNamespace(headers=[], method="GET", path="/_t/SECRETSTRING123/x", query="X-Amz-Signature=abc",
                          uri=environ["RAW_URI"], version=(1, 1))
    resp = SimpleNamespace(status="200 OK", response_length=3, sent=3, headers=[])
    atoms = logger.atoms(resp, req, environ, timedelta(seconds=0.01))
    line = " ".join(str(value) for value in atoms.values())
    assert "SECRETSTRING123" not in line
    assert "X-Amz-Signature" not in line


def test_access_log_lines_of_our_format_are_gunicorns_from_fewer_atoms(monkeypatch):
    """With ACCESS_LOG_FORMAT only the atoms it names are computed; the line is the one the full set gives."""
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig
    from gunicorn.glogging import SafeAtoms

    from ticketbooth.gateway.accesslog import ACCESS_LOG_FORMAT, RedactingLogger

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/_t/SECRETSTRING123/x", "QUERY_STRING": "X-Amz-Signature=abc",
               "SERVER_PROTOCOL": "HTTP/1.1", "RAW_URI": "/_t/SECRETSTRING123/x?X-Amz-Signature=abc",
               "REMOTE_ADDR": "192.0.2.1", "HTTP_USER_AGENT": 'curl/8 "quoted"'}
    req = SimpleNamespace(headers=[("User-Agent", 'curl/8 "quoted"')], method="GET", path=environ["PATH_INFO"],
                          query=environ["QUERY_STRING"], uri=environ["RAW_URI"], version=(1, 1))
    resp = SimpleNamespace(status="206 Partial Content", response_length=3, sent=3, headers=[("ETag", '"e"')])
    lines = []
    for ours in (True, False):  # gunicorn's default format: every atom, rendered here with ours
        cfg = GunicornConfig()
        if ours:
            cfg.set("access_log_format", ACCESS_LOG_FORMAT)
        logger = RedactingLogger(cfg)
        monkeypatch.setattr(logger, "now", lambda: "[02/Dec/2026:02:00:00 +0000]")
        atoms = logger.atoms(resp, req, environ, timedelta(seconds=1, microseconds=5))
        lines.append((ACCESS_LOG_FORMAT % SafeAtoms(atoms), len(atoms)))
    (fast, few), (full, many) = lines
    assert fast == full == ('192.0.2.1 [02/Dec/2026:02:00:00 +0000] "GET /_t/<redacted>/x HTTP/1.1" 206 3 '
                            '1.000005s "curl/8 \\"quoted\\""')
    assert few < many


@pytest.mark.parametrize(("text", "secret"), [
    ("Invalid HTTP request line: 'GET /_t/LINKSTRING12345/x?X-Amz-Signature=abcdef HTTP/1.1 x'", "LINKSTRING12345"),
    ("Invalid HTTP request line: 'GET /_t/LINKSTRING12345/x?X-Amz-Signature=abcdef HTTP/1.1 x'", "abcdef"),
    ("GET /_t/a/../_t/SECONDSTRING99/x", "SECONDSTRING99"),  # every /_t/ segment, not just the first
    ("/b/k?Signature=sig2sig2&AWSAccessKeyId=A", "sig2sig2"),
    ('"GET /pub-ifcugrcfizdu6ucnjfhuktbp/data.csv HTTP/1.1" 200', "ifcugrcfizdu6ucnjfhuktbp"),  # path style
    ("Host: pub-ifcugrcfizdu6ucnjfhuktbp.s3.example.org", "ifcugrcfizdu6ucnjfhuktbp"),  # virtual-host style
    ("Authorization: AWS4-HMAC-SHA256 Credential=A/b, SignedHeaders=host, Signature=0a1b2c3d", "0a1b2c3d"),
    ("Authorization: AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "frJIUN8DYpKDtOLCwo"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "eyJzdWIiOiJhIn0"),
])
def test_redact_text_removes_every_secret_form(text, secret):
    from ticketbooth.logredact import redact_text

    assert secret not in redact_text(text) and "<redacted>" in redact_text(text)


def test_log_records_are_redacted_with_their_tracebacks(caplog):
    import logging

    from ticketbooth.logredact import install

    install()
    try:
        raise OSError("failed on /_t/TRACEBACKSTRING1/x?X-Amz-Signature=feedface")
    except OSError:
        logging.getLogger("ticketbooth.test").exception("Error handling request %s", "/k?X-Amz-Signature=beef")
    text = caplog.text
    assert "beef" not in text and "feedface" not in text and "TRACEBACKSTRING1" not in text
    assert "Traceback" in text and "<redacted>" in text


def test_json_log_lines_are_redacted_too():
    import json
    import logging

    from ticketbooth.logredact import install
    from ticketbooth.logs import formatter

    install()
    try:
        raise OSError("/_t/JSONTRACESTRING/x?X-Amz-Signature=c0ffee")
    except OSError as exc:
        record = logging.getLogger("ticketbooth.test").makeRecord(
            "ticketbooth.test", logging.ERROR, __file__, 1, "GET %s", ("/_t/JSONMSGSTRING1/y",), (type(exc), exc,
                                                                                                 exc.__traceback__))
    line = formatter("json").format(record)
    assert "JSONTRACESTRING" not in line and "c0ffee" not in line and "JSONMSGSTRING1" not in line
    assert "<redacted>" in json.loads(line)["exception"]
