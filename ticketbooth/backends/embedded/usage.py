"""Use counts that no decision depends on, tallied in memory and written by one group commit at a time.

A granted request whose use is judged against a uses limit is counted synchronously, under the catalogue's
write lock, before it is served (:func:`ticketbooth.policy.needs_counted_use` decides), so a limit is never
overshot by any mix of threads and processes. Every other count (a new use of a ticket without a uses limit, and
the last-request time that keeps a key pair's use window open) only informs: it is added here and written by a
background thread every ``interval`` seconds in one transaction, and at :meth:`UsageTally.close`. Small GETs and
HEADs then never queue for SQLite's write lock. Counts not yet written are added to the tickets this process
reports; another process sees them at the next commit. A crash loses at most ``interval`` seconds of them.
"""
from __future__ import annotations

import atexit
import logging
import threading
import weakref
from datetime import datetime

from .catalog import Catalog, to_micros

__all__ = ["UsageTally", "FLUSH_INTERVAL"]

FLUSH_INTERVAL = 0.25  # seconds

log = logging.getLogger(__name__)


class UsageTally:
    """Pending use counts and last-request times per ticket and key pair, flushed to ``catalog``."""

    def __init__(self, catalog: Catalog, interval: float = FLUSH_INTERVAL) -> None:
        self._catalog = catalog
        self._interval = interval
        self._lock = threading.Lock()
        self._uses: dict[int, int] = {}
        self._last: dict[tuple[int, str], datetime] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def add(self, ticket_id: int, holder: str, *, use: bool, request_at: datetime | None) -> None:
        """Tally one granted request: a new use (``use``) and/or the key pair's request time."""
        with self._lock:
            if use:
                self._uses[ticket_id] = self._uses.get(ticket_id, 0) + 1
            if request_at is not None:
                key = (ticket_id, holder)
                previous = self._last.get(key)
                self._last[key] = request_at if previous is None else max(previous, request_at)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name="ticketbooth-usage", daemon=True)
                self._thread.start()
                # A worker leaving normally (gunicorn --max-requests, a graceful stop) writes its last counts;
                # weakly, so the hook keeps no closed backend alive.
                atexit.register(_flush_at_exit, weakref.ref(self))

    def pending_uses(self, ticket_id: int) -> int:
        with self._lock:
            return self._uses.get(ticket_id, 0)

    def last_request(self, ticket_id: int, holder: str) -> datetime | None:
        with self._lock:
            return self._last.get((ticket_id, holder))

    def flush(self) -> None:
        """Write what is pending in one transaction; on failure it stays pending for the next try."""
        with self._lock:
            uses, self._uses = self._uses, {}
            last, self._last = self._last, {}
        if not uses and not last:
            return
        try:
            with self._catalog.write() as conn:
                conn.executemany("UPDATE tickets SET uses_count = uses_count + ? WHERE id = ?",
                                 [(count, ticket_id) for ticket_id, count in uses.items()])
                # max(): never move a window back; tickets deleted meanwhile are skipped, not a failure.
                conn.executemany(
                    "INSERT INTO key_requests (ticket_id, holder, last_request) SELECT ?, ?, ?"
                    " WHERE EXISTS (SELECT 1 FROM tickets WHERE id = ?) ON CONFLICT (ticket_id, holder)"
                    " DO UPDATE SET last_request = max(last_request, excluded.last_request)",
                    [(ticket_id, holder, to_micros(when), ticket_id) for (ticket_id, holder), when in last.items()])
        except BaseException:
            with self._lock:
                for ticket_id, count in uses.items():
                    self._uses[ticket_id] = self._uses.get(ticket_id, 0) + count
                for key, when in last.items():
                    self._last[key] = max(when, self._last.get(key, when))
            raise

    def close(self) -> None:
        """Stop the background thread and write what is pending."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=30)
        self.flush()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            with self._lock:
                if self._stopped:
                    return
            try:
                self.flush()
            except Exception as err:  # noqa: BLE001 - the thread must survive a busy or failing catalogue
                log.warning("could not write use counts (%s); retrying", type(err).__name__)


def _flush_at_exit(ref: weakref.ref[UsageTally]) -> None:
    tally = ref()
    if tally is not None and not tally._stopped:
        try:
            tally.flush()
        except Exception:  # noqa: BLE001 - the catalogue may be gone at exit; nothing to report to
            pass
