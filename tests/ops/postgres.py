"""A throw-away PostgreSQL cluster for tests, started from Debian's postgresql-15 binaries like nginx is.

The cluster lives in a fresh temporary directory, listens on a Unix socket only (no TCP port at all), trusts
local connections, and is stopped (``pg_ctl stop``) and deleted afterwards. As root it runs as the ``postgres``
system user (``runuser``), because PostgreSQL refuses to run as root. It never touches another cluster.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PG_BIN", "postgres_cluster", "PostgresUnavailable"]

PG_BIN = Path(os.environ.get("TICKETBOOTH_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


@contextmanager
def postgres_cluster() -> Iterator[tuple[Path, int]]:
    """Run a cluster; yield ``(socket directory, port)`` (the port names the socket file only)."""
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(f"no PostgreSQL server binaries in {PG_BIN} (.ci/run installs postgresql-15)")
    base = Path(tempfile.mkdtemp(prefix="ticketbooth-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = 40000 + os.getpid() % 20000
    try:
        subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        options = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                        str(base / "server.log"), "-w", "-t", "60", "start"], check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while not (base / f".s.PGSQL.{port}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not open its socket: " + (base / "server.log").read_text())
            time.sleep(0.1)
        yield base, port
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
