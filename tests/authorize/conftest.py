"""Fixtures for the authorize and presign endpoints: an embedded-backend app with a frozen, movable clock."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.app import create_app
from ticketbooth.settings import load_settings

from ..clock import Clock

START = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
GATEWAY_SECRET = "gateway-secret-" + "g" * 24
HOST = "s3.test:9000"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={}, overrides={
        "data_dir": str(tmp_path / "data"),
        "auth": {"hs256_secret": "h" * 40},
        "s3": {"endpoint_url": f"http://{HOST}", "region": "us-east-1", "key_cache_ttl": 0.0},
        "gateway": {"authorize_secret": GATEWAY_SECRET},
        "embedded": {"users": ["alice", "bob"]},
    })


@pytest.fixture
def app(settings, clock):
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(settings, clock) -> Callable[[str], dict[str, str]]:
    def headers(user: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_dev_token(settings, user, False, clock(), lifetime=10**6)}
    return headers


@pytest.fixture
def backend(app):
    return app.extensions["ticketbooth"].backend


@pytest.fixture
def make_ticket(client, token, backend) -> Callable[..., dict[str, Any]]:
    """Create a ticket as ``owner`` (default alice) and return the API's JSON for it (with credentials)."""
    def make(path: str = "/tempZone/home/alice/data", owner: str = "alice", **fields: Any) -> dict[str, Any]:
        response = client.post("/v1/tickets", json={"path": path, **fields}, headers=token(owner))
        assert response.status_code == 201, response.json
        return response.json
    return make


@pytest.fixture
def data_dir(settings, backend):
    """Put files into the embedded backend's zone directory (owner alice) and return the helper."""
    from pathlib import Path

    root = Path(settings.data_dir) / "zone" / "tempZone" / "home" / "alice"

    def put(relative: str, content: bytes) -> Path:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return target
    return put


def sign(method: str, url: str, akid: str, secret: str, now: datetime, *, headers: dict[str, str] | None = None,
         body: bytes = b"", payload: str | None = None) -> dict[str, str]:
    """Headers of a SigV4-signed request, signed by botocore (the reference signer) at ``now``."""
    from freezegun import freeze_time

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if payload is not None:
        request.headers["X-Amz-Content-SHA256"] = payload
    with freeze_time(now):
        S3SigV4Auth(Credentials(akid, secret), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def presign_v2(url: str, akid: str, secret: str, now: datetime, expires: int = 600) -> str:
    from freezegun import freeze_time

    request = AWSRequest(method="GET", url=url)
    with freeze_time(now):
        HmacV1QueryAuth(Credentials(akid, secret), expires=expires).add_auth(request)
    return request.url
