"""A running TicketBooth on loopback: the API and the S3 gateway under gunicorn (plus an HTTPS gateway with a
self-signed certificate and an API instance that hands out its endpoint), sharing one embedded data directory.

Clients are configured only from ``GET /v1/tickets/{id}/credentials?format=...`` written to files in temporary
directories (see :class:`ClientFiles`).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.clientconfig import aws_parts
from ticketbooth.settings import Settings, load_settings

from .servers import API_APP, GATEWAY_APP, Server, free_port, self_signed_cert

ZONE = "tempZone"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it from Debian)")
    return path


@dataclass
class Stack:
    """The running services and helpers to drive them as users would."""

    settings: Settings
    api_url: str
    gateway_url: str
    tls_api_url: str
    tls_gateway_url: str
    ca_file: Path
    data_dir: Path
    config_file: Path
    servers: list[Server] = field(default_factory=list)

    def token(self, user: str) -> str:
        return issue_dev_token(self.settings, user, False, datetime.now(UTC), lifetime=3600)

    def api(self, method: str, path: str, *, user: str = "alice", base: str | None = None, **kw: Any):
        headers = {"Authorization": f"Bearer {self.token(user)}", **kw.pop("headers", {})}
        return requests.request(method, (base or self.api_url) + path, headers=headers, timeout=30, **kw)

    def home(self, user: str = "alice") -> str:
        return f"/{ZONE}/home/{user}"

    def disk(self, logical: str) -> Path:
        """Where the embedded backend keeps a logical path."""
        return self.data_dir / "zone" / logical.lstrip("/")

    def seed(self, logical: str, content: bytes) -> Path:
        """Put a data object in place on disk (owner: the home it lies in)."""
        target = self.disk(logical)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return target

    def collection(self, name: str, user: str = "alice") -> str:
        logical = f"{self.home(user)}/{name}"
        self.disk(logical).mkdir(parents=True, exist_ok=True)
        return logical

    def create_ticket(self, path: str, *, user: str = "alice", **fields: Any) -> dict[str, Any]:
        response = self.api("POST", "/v1/tickets", user=user, json={"path": path, **fields})
        assert response.status_code == 201, response.text
        return response.json()

    def revoke(self, ticket_id: int, user: str = "alice") -> None:
        response = self.api("DELETE", f"/v1/tickets/{ticket_id}", user=user)
        assert response.status_code == 204, response.text

    def credentials(self, ticket_id: int, fmt: str, *, user: str = "alice", tls: bool = False) -> str:
        response = self.api("GET", f"/v1/tickets/{ticket_id}/credentials", user=user, params={"format": fmt},
                            base=self.tls_api_url if tls else None)
        assert response.status_code == 200, response.text
        return response.text

    def uses(self, ticket_id: int, *, settle: int | None = None) -> int:
        """The ticket's ``uses_count`` as the API reports it. Uses of a ticket without a uses limit reach
        other processes with the gateway's next group commit (every 0.25 s): ``settle`` waits (up to 10 s)
        for that count."""
        deadline = time.monotonic() + 10
        while True:
            count = self.api("GET", f"/v1/tickets/{ticket_id}").json()["uses_count"]
            if settle is None or count == settle or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


class ClientFiles:
    """Client configuration files written from the API's ``credentials?format=`` output, and the environment
    that points each client at them (HOME is the temporary directory, so nothing of the user's leaks in)."""

    def __init__(self, stack: Stack, directory: Path, ticket_id: int, *, user: str = "alice", tls: bool = False):
        self.stack, self.dir, self.ticket_id, self.user, self.tls = stack, directory, ticket_id, user, tls
        self.dir.mkdir(parents=True, exist_ok=True)
        self.profile = f"ticket-{ticket_id}"
        self.bucket = f"ticket-{ticket_id}"
        self.env: dict[str, str] = {
            "HOME": str(self.dir), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if tls:
            self.env["AWS_CA_BUNDLE"] = str(stack.ca_file)

    def _fetch(self, fmt: str) -> str:
        return self.stack.credentials(self.ticket_id, fmt, user=self.user, tls=self.tls)

    def aws(self) -> dict[str, str]:
        credentials, config = aws_parts(self._fetch("aws"))
        (self.dir / "aws-credentials").write_text(credentials)
        (self.dir / "aws-config").write_text(config)
        self.env.update(AWS_SHARED_CREDENTIALS_FILE=str(self.dir / "aws-credentials"),
                        AWS_CONFIG_FILE=str(self.dir / "aws-config"), AWS_PROFILE=self.profile)
        return self.env

    def rclone(self) -> dict[str, str]:
        (self.dir / "rclone.conf").write_text(self._fetch("rclone"))
        self.env["RCLONE_CONFIG"] = str(self.dir / "rclone.conf")
        return self.env

    def s3cmd(self) -> Path:
        path = self.dir / "s3cfg"
        path.write_text(self._fetch("s3cmd"))
        return path

    def mc(self) -> Path:
        directory = self.dir / "mc"
        directory.mkdir(exist_ok=True)
        (directory / "config.json").write_text(self._fetch("mc"))
        return directory

    def shell_env(self) -> Path:
        path = self.dir / "ticket.env"
        path.write_text(self._fetch("env"))
        return path

    def json(self) -> dict[str, Any]:
        import json

        return json.loads(self._fetch("json"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    data_dir = base / "data"
    ports = {name: free_port() for name in ("api", "gateway", "tls_api", "tls_gateway")}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    tls_gateway_url = f"https://127.0.0.1:{ports['tls_gateway']}"
    config_file = base / "ticketbooth.toml"
    config_file.write_text(
        f'data_dir = "{data_dir}"\nlog_level = "WARNING"\n'
        f'[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n'
        f'[s3]\nendpoint_url = "{gateway_url}"\nregion = "us-east-1"\nmaster_key = "{secrets.token_hex(32)}"\n'
        # One use per request, which the suites count; the default window has its own gateway (test_use_window).
        f'use_window = 0\n'
        f'[gateway]\nauthorize_secret = "{secrets.token_hex(24)}"\npublic_url = "{gateway_url}"\n'
        f'[embedded]\nusers = ["alice", "bob"]\n'
    )
    settings = load_settings(config_file, environ={})
    cert, key = self_signed_cert(base)
    env = {"TICKETBOOTH_CONFIG": str(config_file)}
    tls_env = {**env, "TICKETBOOTH_S3__ENDPOINT_URL": tls_gateway_url,
               "TICKETBOOTH_GATEWAY__PUBLIC_URL": tls_gateway_url}
    # Start the first API alone: it creates the data directory and catalogue the others share.
    api = Server(API_APP, ports["api"], env, base / "api.log")
    servers = [api]
    try:
        api.wait_ready("/healthz")
        servers += [
            Server(GATEWAY_APP, ports["gateway"], env, base / "gateway.log"),
            Server(API_APP, ports["tls_api"], tls_env, base / "tls-api.log"),
            Server(GATEWAY_APP, ports["tls_gateway"], tls_env, base / "tls-gateway.log", tls=(cert, key)),
        ]
        servers[1].wait_ready("/")
        servers[2].wait_ready("/healthz")
        servers[3].wait_ready("/", verify=str(cert))
        yield Stack(settings, api.url, gateway_url, servers[2].url, tls_gateway_url, cert, data_dir, config_file,
                    servers)
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path
