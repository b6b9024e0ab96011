"""A private iRODS zone that a test may stop and restart: the shared zone on 127.0.0.1:1247 never is.

:class:`PrivateZone` starts a second zone from the shared scripts (``../shared/irods/start-irods-zone.sh``,
found next to the repository or one level up, or at ``TICKETBOOTH_TEST_IRODS_SCRIPTS``) with its own prefix, data
directory, zone port and PostgreSQL port under a fresh temporary directory, and purges it afterwards
(``stop-irods-zone.sh --purge``). The :func:`private_zone` fixture (module-scoped) starts it once (about 15 s).

The scripts assume one zone per machine: the system account ``irods`` has one home, which the start script
points at *its* prefix (``usermod -d``, which fails while the shared zone's processes run as ``irods``) and into
which setup writes the service account's files (``~irods/.irods``, ``~irods/.odbc.ini``). So everything the
private zone runs — both scripts, PostgreSQL, irodsServer — runs in a mount namespace of its own, held open by one
``sleep`` (``unshare --mount``), in which ``/etc`` is a copy whose ``passwd`` names the private prefix as the home
of ``irods``: the start script then has nothing to change, and the shared zone's ``/etc/passwd``, service account
files and saved configuration (``/var/lib/irods-zone/irods-config``) are never written. :func:`shared_fingerprint`
checksums them; the fixture fails if they changed (restore from ``/var/lib/irods-zone/irods-config`` then).

iRODS 5 has no control plane port; besides the zone port, a server binds ports of its parallel-transfer range
(``server_port_range_start/end``, which the script always sets to 20000-20199) only for a parallel transfer.
The private zone gets a range of its own in its ``server_config.json`` right after setup; it takes effect at its
first restart (until then it shares the shared zone's range, which is harmless: a server binds whichever port of
its range is free, and TicketBooth never asks for a parallel transfer).
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import free_port

__all__ = ["PrivateZone", "find_scripts", "private_zone", "shared_fingerprint"]

REPO = Path(__file__).resolve().parents[2]
#: Where the shared zone keeps what it was set up with (start-irods-zone.sh's default data directory).
SHARED_DATA = Path("/var/lib/irods-zone")
ZONE_NAME, ADMIN, PASSWORD = "tempZone", "rods", "rods"


def find_scripts() -> Path | None:
    """The directory of start-irods-zone.sh: ``TICKETBOOTH_TEST_IRODS_SCRIPTS``, else ``shared/irods`` next to
    the repository (CI's ``../shared``) or next to its parent (a worktree one level deeper)."""
    explicit = os.environ.get("TICKETBOOTH_TEST_IRODS_SCRIPTS", "").strip()
    candidates = [Path(explicit)] if explicit else [parent / "shared" / "irods" for parent in REPO.parents[:2]]
    return next((c for c in candidates if (c / "start-irods-zone.sh").is_file()), None)


def shared_fingerprint() -> dict[str, str]:
    """SHA-256 of every file the start script would overwrite for the shared zone, and the ``irods`` account's
    passwd entry (empty when there is no such account yet)."""
    try:
        entry = pwd.getpwnam("irods")
    except KeyError:
        return {}
    found = {"passwd:irods": ":".join(str(field) for field in entry)}
    home = Path(entry.pw_dir)
    for root in (home / ".irods", home / ".odbc.ini", SHARED_DATA / "irods-config"):
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _free_range(size: int = 20) -> tuple[int, int]:
    """A block of ``size`` ports outside the shared zone's 20000-20199 that nothing listens on now."""
    for _ in range(50):
        start = random.randrange(21000, 29000, size)
        if all(_bindable(port) for port in range(start, start + size)):
            return start, start + size - 1
    raise RuntimeError("no free port range for the private zone")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateZone:
    """A zone in ``base`` (see the module docstring): ``start()``, ``stop()``, ``close()`` (purge).

    ``env`` is its ``TICKETBOOTH_TEST_IRODS_*`` set (HOST, PORT, ZONE, USER, PASSWORD) for ``stacks.start_irods``.
    """

    def __init__(self, base: Path, scripts: Path) -> None:
        self.base, self.scripts = base, scripts
        self.prefix, self.data = base / "prefix", base / "data"
        self.port = free_port()
        self.pg_port = next(port for port in iter(free_port, None) if port != self.port)
        self.env = {"HOST": "127.0.0.1", "PORT": str(self.port), "ZONE": ZONE_NAME, "USER": ADMIN,
                    "PASSWORD": PASSWORD}
        self.timings: dict[str, float] = {}
        self._holder = self._namespace()

    def _namespace(self) -> subprocess.Popen:
        """Copy /etc, make ``irods``' home the private prefix's in the copy, and hold a mount namespace open in
        which the copy is /etc."""
        etc = self.base / "etc"
        subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
        home = self.prefix / "var/lib/irods"
        passwd = etc / "passwd"
        lines = []
        for line in passwd.read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "irods" and len(fields) == 7:
                fields[5] = str(home)
            lines.append(":".join(fields))
        passwd.write_text("\n".join(lines) + "\n")
        holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount --bind "$0" /etc && echo ready && exec sleep infinity', str(etc)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        ready = holder.stdout.readline() if holder.stdout else ""
        if ready.strip() != "ready":
            holder.kill()
            raise RuntimeError(f"could not make the private zone's mount namespace: {ready}")
        return holder

    def _script(self, name: str, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        if self._holder.poll() is not None:
            raise RuntimeError("the private zone's mount namespace is gone")
        command = ["nsenter", "--target", str(self._holder.pid), "--mount", "--",
                   "env", f"IRODS_ZONE_PORT={self.port}", f"IRODS_PG_PORT={self.pg_port}", "IRODS_START_TIMEOUT=60",
                   "bash", str(self.scripts / name), "--prefix", str(self.prefix), "--data-dir", str(self.data),
                   *extra]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")
        self.timings[name] = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def start(self) -> None:
        """Start (the first time: set up) the zone; returns once python-irodsclient logs in."""
        first = not (self.data / ".zone-configured").exists()
        self._script("start-irods-zone.sh")
        if first:
            config = self.prefix / "etc/irods/server_config.json"
            server = json.loads(config.read_text())
            server["server_port_range_start"], server["server_port_range_end"] = _free_range()
            config.write_text(json.dumps(server, indent=4))

    def stop(self) -> None:
        """Stop irodsServer and PostgreSQL (the zone's outage)."""
        self._script("stop-irods-zone.sh")

    def close(self) -> None:
        """Stop and purge the zone, end the namespace, delete ``base``."""
        try:
            if self.prefix.exists() or self.data.exists():
                self._script("stop-irods-zone.sh", "--purge")
        finally:
            self._holder.kill()
            self._holder.wait()
            if self._holder.stdout:
                self._holder.stdout.close()
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def private_zone() -> Iterator[PrivateZone]:
    """A :class:`PrivateZone` for the module, purged at its end; the shared zone's files are checked unchanged."""
    if os.geteuid() != 0:
        pytest.skip("a private iRODS zone needs root (the start script creates the service account and runs as it)")
    scripts = find_scripts()
    if scripts is None:
        pytest.skip("no start-irods-zone.sh found (../shared/irods, or set TICKETBOOTH_TEST_IRODS_SCRIPTS)")
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (util-linux) is not installed")
    before = shared_fingerprint()
    # Not under pytest's 0700 temporary root: the irods account must reach the prefix and data directory.
    base = Path(tempfile.mkdtemp(prefix="tb-private-zone-"))
    base.chmod(0o755)
    zone = PrivateZone(base, scripts)
    try:
        zone.start()
        yield zone
    finally:
        zone.close()
        after = shared_fingerprint()
        assert after == before, (
            "the private zone changed the shared zone's files: restore them from /var/lib/irods-zone/irods-config "
            f"({sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))})")
