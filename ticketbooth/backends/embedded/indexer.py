"""The background thread that keeps the embedded zone's index in line with the disk (``index.reconcile``).

One pass at start-up, then one every ``interval`` seconds, and soon after a listing met a collection changed by
hand (``nudge``). Processes sharing a data directory take turns through an exclusive ``flock`` on
``<data_dir>/index.lock``, so one pass runs at a time. Passes run off every request path; a failing pass is
logged (without paths) and retried at the next turn.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable

from ...privatefiles import FILE_MODE

__all__ = ["Indexer", "LOCK_FILE"]

LOCK_FILE = "index.lock"
_MIN_GAP = 1.0  # seconds between two passes, however often listings nudge
_LOCK_POLL = 0.2

log = logging.getLogger(__name__)


class Indexer:
    """Runs ``run_pass(stop)`` in a daemon thread; :meth:`close` stops it and waits for it."""

    def __init__(self, data_dir: str, run_pass: Callable[[Callable[[], bool]], object], interval: float) -> None:
        self._lock_path = os.path.join(data_dir, LOCK_FILE)
        self._run_pass = run_pass
        self._interval = interval
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ticketbooth-indexer", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Ask for a pass soon (a listing found the index behind the disk)."""
        self._wake.set()

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                self._one_pass()
            except Exception as err:  # noqa: BLE001 - a background pass must never end the thread
                log.warning("index pass failed (%s); retrying at the next turn", type(err).__name__)
            if self._stopped.wait(_MIN_GAP):
                return
            self._wake.wait(max(self._interval - _MIN_GAP, 0))

    def _one_pass(self) -> None:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:  # another process is at it; wait for our turn, or stop
                    if self._stopped.wait(_LOCK_POLL):
                        return
            self._run_pass(self._stopped.is_set)
        finally:
            os.close(fd)  # releases the lock
