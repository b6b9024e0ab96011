"""Fixtures of the end-to-end suites: ``stack``, a running TicketBooth (see :mod:`.stacks`), and
:class:`ClientFiles`, client configuration written from the API's ``credentials?format=`` output.

``stack`` is the embedded stack unless a module asks for both backends with ``BACKENDS = BOTH``: then each of its
tests runs once per backend, ids ``[embedded]`` and ``[irods]``, the latter with the ``irods`` marker (so
``pytest -m irods`` selects it). Without ``TICKETBOOTH_TEST_IRODS_*`` the irods runs skip, which under
``CI=true`` is a failure (tests/ci_skips.py). Each backend's servers start once per session.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ticketbooth.clientconfig import aws_parts

from .stacks import ZONE, EmbeddedStack, IrodsStack, Stack, irods_configured, start_embedded, start_irods

__all__ = ["BOTH", "ZONE", "ClientFiles", "Stack", "file_sha256", "require_program", "sha256"]

#: ``BACKENDS = BOTH`` in a module runs its ``stack`` tests on both backends.
BOTH = (pytest.param("embedded", id="embedded"), pytest.param("irods", id="irods", marks=pytest.mark.irods))


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


class ClientFiles:
    """Client configuration files written from the API's ``credentials?format=`` output, and the environment
    that points each client at them (HOME is the temporary directory, so nothing of the user's leaks in)."""

    def __init__(self, stack: Stack, directory: Path, ticket_id: int, *, user: str | None = None, tls: bool = False):
        self.stack, self.dir, self.ticket_id, self.tls = stack, directory, ticket_id, tls
        self.user = user or stack.owner
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends is not None and "stack" in metafunc.fixturenames:
        metafunc.parametrize("stack", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory) -> Iterator[EmbeddedStack]:
    with start_embedded(tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def irods_stack(tmp_path_factory) -> Iterator[IrodsStack]:
    if not irods_configured():
        pytest.skip("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD to run against a real iRODS zone "
                    "(docs/irods.md)")
    with start_irods(tmp_path_factory.mktemp("irods-stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def stack(request) -> Stack:
    """The running stack of the backend the test is parametrized with (embedded when it is not)."""
    return request.getfixturevalue(f"{getattr(request, 'param', 'embedded')}_stack")


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path
