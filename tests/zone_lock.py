"""The real-zone tests assume the zone is theirs: conformance fixtures delete every test user's ticket before and
after each test, and listing tests expect to see only their own tickets. Two test runs against one zone (several
checkouts on one machine, a developer's run beside a landing check) would break each other, so a run takes an
exclusive ``flock`` on a per-zone lock file before its first ``irods``-marked test and holds it until the process
exits; a second run waits there. CI runs one process, so the lock costs nothing there. The hook is imported by
tests/conftest.py."""
from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from typing import Any, TextIO

import pytest

__all__ = ["pytest_runtest_setup", "zone_lock_path", "hold_zone_lock"]

_held: TextIO | None = None


def zone_lock_path(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The lock file for the zone named by ``TICKETBOOTH_TEST_IRODS_HOST``/``_PORT``, or
    ``TICKETBOOTH_TEST_IRODS_LOCK`` when set."""
    explicit = environ.get("TICKETBOOTH_TEST_IRODS_LOCK", "").strip()
    if explicit:
        return explicit
    host = environ.get("TICKETBOOTH_TEST_IRODS_HOST", "").strip() or "none"
    port = environ.get("TICKETBOOTH_TEST_IRODS_PORT", "").strip() or "1247"
    return os.path.join(tempfile.gettempdir(), f"ticketbooth-irods-{host}-{port}.lock")


def hold_zone_lock(path: str) -> TextIO:
    """Open ``path`` and take an exclusive lock on it, waiting for another holder; the caller keeps the file open
    for as long as it needs the zone (closing it, or exiting, releases the lock)."""
    handle = open(path, "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nwaiting for another test run against this iRODS zone ({path}) ...", file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    global _held
    if _held is None and item.get_closest_marker("irods") and os.environ.get("TICKETBOOTH_TEST_IRODS_HOST"):
        _held = hold_zone_lock(zone_lock_path())
