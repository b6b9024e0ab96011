"""Shared fixtures: ``settings -> backend -> app -> client``, an injectable clock, and a client helper that
adds a bearer token. The backend is the real embedded one on a per-test data directory."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.app import create_app
from ticketbooth.settings import Settings, load_settings

from .browser import chromium  # noqa: F401 - the headless Chromium fixture, for every test
from .ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 - hooks
from .clock import Clock
from .zone_lock import pytest_runtest_setup  # noqa: F401 - one test run at a time per real zone

START = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
HS256_SECRET = "test-hs256-secret-" + "k" * 32
ZONE = "tempZone"


class ApiClient:
    """A Flask test client that sends ``Authorization: Bearer`` for ``user`` (none when ``user`` is None)."""

    def __init__(self, client: Any, settings: Settings, clock: Clock, user: str | None = "alice",
                 admin: bool = False) -> None:
        self.client, self.settings, self.clock, self.user, self.admin = client, settings, clock, user, admin

    def as_user(self, user: str | None, *, admin: bool = False) -> ApiClient:
        return ApiClient(self.client, self.settings, self.clock, user, admin)

    def token(self) -> str:
        assert self.user is not None
        return issue_dev_token(self.settings, self.user, self.admin, self.clock())

    def open(self, method: str, url: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}) or {})
        if self.user is not None:
            headers.setdefault("Authorization", "Bearer " + self.token())
        return self.client.open(url, method=method, headers=headers, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.open("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.open("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.open("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.open("DELETE", url, **kw)

    def create(self, path: str = f"/{ZONE}/home/alice/data", **fields: Any) -> dict[str, Any]:
        """Create a ticket and return its JSON; fails the test unless the API answers 201."""
        response = self.post("/v1/tickets", json={"path": path, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(environ={}, overrides={
        "data_dir": str(tmp_path / "data"),
        "auth": {"hs256_secret": HS256_SECRET},
        "s3": {"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1", "key_cache_ttl": 0.0},
        "embedded": {"zone": ZONE, "users": ["alice", "bob", "carol"], "groups": {"lab": ["carol"]}},
    })


@pytest.fixture
def backend(settings, clock) -> Iterator[Any]:
    from ticketbooth.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend.from_settings(settings, clock=clock)
    backend.put_object(f"/{ZONE}/home/alice/data/a.csv", b"x,y\n1,2\n")
    backend.put_object(f"/{ZONE}/home/alice/data/sub/b.txt", b"hello")
    backend.put_object(f"/{ZONE}/home/alice/data10/c.txt", b"prefix confusion")
    backend.put_object(f"/{ZONE}/home/bob/notes.txt", b"bob's")
    yield backend
    backend.close()


@pytest.fixture
def app(settings, backend, clock) -> Any:
    return create_app(settings, backend=backend, clock=clock)


@pytest.fixture
def client(app, settings, clock) -> ApiClient:
    """Calls the API as alice (``client.as_user("bob")``, ``as_user("root", admin=True)``, ``as_user(None)``)."""
    return ApiClient(app.test_client(), settings, clock)

