"""gunicorn server hooks that make the Prometheus metrics of several workers one set.

``on_starting`` (in the master, before any worker is forked) points ``PROMETHEUS_MULTIPROC_DIR`` at
``metrics.multiproc_dir`` (emptied first: files of an earlier run would be added to this one's) or at a fresh
temporary directory; ``child_exit`` marks a dead worker's live gauges as gone (its counters stay, as they
should: a restart must not make a counter go down); ``on_exit`` removes a temporary directory it made.

``ticketbooth serve`` and ``ticketbooth gateway`` install these hooks themselves (:data:`HOOKS`); for plain
gunicorn use ``gunicorn -c python:ticketbooth.gunicorn_conf ...``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .metrics import MULTIPROC_ENV

__all__ = ["HOOKS", "hooks", "prepare_directory"]

_made: list[str] = []


def prepare_directory(configured: str = "") -> str:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` for the workers to come and return it.

    ``configured`` (or an already set variable) is created if missing and emptied of metric files; otherwise a
    fresh temporary directory is made (and removed by ``on_exit``).
    """
    directory = configured or os.environ.get(MULTIPROC_ENV, "")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="ticketbooth-metrics-")
        _made.append(directory)
    os.environ[MULTIPROC_ENV] = directory
    return directory


def hooks(configured_dir: str = "", metrics_port: int = 0) -> dict[str, Callable[..., Any]]:
    """gunicorn settings ``on_starting``, ``child_exit`` and ``on_exit`` for ``metrics.multiproc_dir``.

    With ``metrics_port`` the server also listens on that port, on the host of its first bind address (the
    metrics middleware serves only ``/metrics`` there).
    """

    def on_starting(server: Any) -> None:
        prepare_directory(configured_dir)
        if metrics_port:
            binds = list(server.cfg.bind)
            host = binds[0].rpartition(":")[0] if binds and ":" in binds[0] else "127.0.0.1"
            extra = f"{host}:{metrics_port}"
            if extra not in binds:
                server.cfg.set("bind", [*binds, extra])

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        if os.environ.get(MULTIPROC_ENV):
            multiprocess.mark_process_dead(worker.pid)

    def on_exit(server: Any) -> None:
        while _made:
            shutil.rmtree(_made.pop(), ignore_errors=True)

    return {"on_starting": on_starting, "child_exit": child_exit, "on_exit": on_exit}


HOOKS = hooks()
