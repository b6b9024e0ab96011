"""Fixtures for gateway tests, reusable by end-to-end tests.

In-process (no sockets):

* ``gw`` -> :class:`GatewayWorld`: a real :class:`EmbeddedBackend` in ``tmp_path`` with user ``alice``
  (home ``/tempZone/home/alice``), an injected :class:`~tests.clock.Clock` (``gw.clock``), the gateway app
  (``gw.app``, multipart minimum part size lowered to 1 KiB) and helpers: ``gw.put(path, data)`` writes data
  bypassing tickets, ``gw.ticket(path, access=..., **limits)`` creates a ticket as alice,
  ``gw.client(ticket, holder=None)`` returns an :class:`S3Client` signing with that ticket's derived keys.
* :class:`S3Client`: ``request(method, key_or_path, query="", body=b"", headers=None)`` signs with botocore's
  ``S3SigV4Auth`` at the injected clock's time and calls the WSGI app directly with the raw URI, returning a
  :class:`Result` (``status``, ``headers``, ``body``, ``xml()``, ``code``).
* :func:`call_wsgi` runs one raw request against any WSGI app.

Loopback server (for real clients):

* :func:`serve_wsgi` is a context manager that serves a WSGI app on ``127.0.0.1`` on a free port in a daemon
  thread (werkzeug's threaded server) and yields its base URL, e.g. ``http://127.0.0.1:40123``.
* ``gateway_server`` fixture: ``gw`` served that way -> ``(gw, base_url)``. A real client must sign at the
  real time, so this fixture's ``gw`` uses the system clock (``gw.clock`` is then not used).
"""
from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.gateway.app import create_gateway_app
from ticketbooth.model import Access, Actor, Ticket, TicketSpec
from ticketbooth.resolver import KeyResolver
from ticketbooth.settings import GatewaySettings, S3Settings, Settings

from ..clock import Clock

START = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
MASTER_KEY = "gateway-test-master-key-" + "m" * 32
HOST = "127.0.0.1:9000"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    @property
    def code(self) -> str | None:
        """The S3 error code of an error response."""
        if not self.body.startswith(b"<?xml"):
            return None
        return self.xml().findtext("Code")

    def find(self, path: str) -> str | None:
        """Text of the first element at ``path`` (tags without namespace, separated by ``/``)."""
        return self.xml().findtext("/".join(NS + part for part in path.split("/")))

    def findall(self, path: str) -> list[str]:
        return [el.text or "" for el in self.xml().findall("/".join(NS + part for part in path.split("/")))]


def call_wsgi(app: Callable[..., Any], method: str, raw_uri: str, headers: dict[str, str] | None = None,
              body: bytes = b"", remote_addr: str = "127.0.0.1") -> Result:
    """Run one request against a WSGI app in-process; ``raw_uri`` is sent as-is (``RAW_URI``)."""
    path, _, query = raw_uri.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "RAW_URI": raw_uri, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr, "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = {name.lower(): value for name, value in response_headers}

    iterable = app(environ, start_response)
    try:
        data = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    return Result(captured["status"], captured["headers"], data)


class S3Client:
    """Signs requests with botocore (SigV4 header) as a ticket's key holder and runs them in-process."""

    def __init__(self, world: GatewayWorld, access_key: str, secret: str, bucket: str) -> None:
        self.world, self.access_key, self.secret, self.bucket = world, access_key, secret, bucket
        self.region = world.settings.s3.region
        self.remote_addr = "127.0.0.1"

    def sign(self, method: str, raw_uri: str, body: bytes = b"", headers: dict[str, str] | None = None,
             *, host: str = HOST) -> dict[str, str]:
        request = AWSRequest(method=method, url=f"http://{host}{raw_uri}", data=body, headers=dict(headers or {}))
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: self.world.clock()):
            botocore.auth.S3SigV4Auth(Credentials(self.access_key, self.secret), "s3", self.region).add_auth(request)
        signed = {name: (value.decode() if isinstance(value, bytes) else value)
                  for name, value in request.headers.items()}
        signed.setdefault("Host", host)
        return signed

    def raw(self, method: str, raw_uri: str, body: bytes = b"", headers: dict[str, str] | None = None,
            *, host: str = HOST) -> Result:
        """Sign and send ``raw_uri`` (path and query, already percent-encoded) as given."""
        signed = self.sign(method, raw_uri, body, headers, host=host)
        return call_wsgi(self.world.app, method, raw_uri, signed, body, remote_addr=self.remote_addr)

    def request(self, method: str, key: str | None = None, query: str = "", body: bytes = b"",
                headers: dict[str, str] | None = None, *, bucket: str | None = None) -> Result:
        """``key`` is percent-encoded here (``/`` kept); ``None`` addresses the bucket itself."""
        from urllib.parse import quote

        path = f"/{bucket or self.bucket}" + ("" if key is None else "/" + quote(key, safe="/~"))
        return self.raw(method, path + (f"?{query}" if query else ""), body, headers)


@dataclass
class GatewayWorld:
    settings: Settings
    backend: EmbeddedBackend
    clock: Clock
    app: Any = None
    resolver: KeyResolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = KeyResolver(self.backend, self.backend.master_key(), ttl=0)

    @property
    def home(self) -> str:
        return "/tempZone/home/alice"

    def put(self, relative: str, data: bytes) -> None:
        self.backend.put_object(f"{self.home}/{relative}", data)

    def ticket(self, relative: str = "ds1", *, access: Access = Access.READ, anonymous: bool = False,
               expires_in: int | None = None, **fields: Any) -> Ticket:
        path = f"{self.home}/{relative}" if relative else self.home
        expires = self.clock() + timedelta(seconds=expires_in) if expires_in else None
        if anonymous and expires is None:
            expires = self.clock() + timedelta(days=1)
        users = () if anonymous else fields.pop("users", ("alice",))
        spec = TicketSpec(path=path, access=access, users=users, expires_at=expires, **fields)
        return self.backend.create_ticket(Actor("alice"), spec, now=self.clock())

    def keys(self, ticket: Ticket, holder: str | None = None) -> tuple[str, str]:
        return self.resolver.mint(ticket, holder or ("anonymous" if ticket.anonymous else "alice"))

    def client(self, ticket: Ticket, holder: str | None = None) -> S3Client:
        akid, secret = self.keys(ticket, holder)
        return S3Client(self, akid, secret, f"ticket-{ticket.id}")


def make_world(tmp_path: Any, clock: Clock | Callable[[], datetime], *, use_window: float = 0.0,
               **gateway: Any) -> GatewayWorld:
    settings = Settings(data_dir=str(tmp_path / "data"),
                        s3=S3Settings(master_key=MASTER_KEY, key_cache_ttl=0, use_window=use_window),
                        gateway=GatewaySettings(**gateway))
    backend = EmbeddedBackend(settings.data_dir, "tempZone", users=("alice", "bob"), master_key=MASTER_KEY,
                              clock=clock)
    world = GatewayWorld(settings, backend, clock)  # type: ignore[arg-type]
    world.app = create_gateway_app(settings, backend=backend, clock=clock, min_part_size=1024)
    return world


@pytest.fixture
def gw(tmp_path: Any) -> Iterator[GatewayWorld]:
    world = make_world(tmp_path, Clock(START))
    world.put("ds1/a.txt", b"hello world")
    world.put("ds1/sub/b.bin", bytes(range(256)) * 4)
    world.put("ds10/secret.txt", b"not yours")
    yield world
    world.backend.close()


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (free port) in a daemon thread; yield ``http://127.0.0.1:<port>``."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # request lines may carry signatures
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="gateway-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def gateway_server(tmp_path: Any) -> Iterator[tuple[GatewayWorld, str]]:
    world = make_world(tmp_path, lambda: datetime.now(UTC))
    world.put("ds1/a.txt", b"hello world")
    with serve_wsgi(world.app) as url:
        yield world, url
    world.backend.close()
