"""Ticket sessions kept open between the requests of one key pair, for the use window (``s3.use_window``).

iRODS counts one use per connection on which a ticket is supplied, so the only way to make the requests of a
window one iRODS use is to run them on one connection: after a request, its ticket session is *parked* here
with the request's time instead of being closed; the pair's next request within the window (the same rule as
everywhere, ``policy.continues_use``) takes it back and counts nothing new. Per process: overlapping requests
of a pair find one parked session each as long as there are some, and park theirs afterwards, so a client on a
few threads keeps a few connections instead of logging in for most requests; requests reaching another gateway
worker open their own (iRODS's count plays no part: TicketBooth counts the uses, docs/irods.md). Parked
sessions hold connection slots, so at most ``max_idle`` are kept and expired ones are closed whenever a session
is taken or parked.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol

from ... import policy

__all__ = ["WarmSessions", "LentSession"]

Key = tuple[int, str, str]  # ticket id, ticket string, holder


class _Closable(Protocol):
    session: object

    def close(self) -> None: ...


class LentSession:
    """A ticket session lent to one request: :meth:`close` parks it for the next request of the pair,
    :meth:`discard` (after a failure) really closes it."""

    def __init__(self, handle: _Closable, park: WarmSessions, key: Key, last_request: datetime) -> None:
        self.session = handle.session
        self._handle: _Closable | None = handle
        self._park, self._key, self._last = park, key, last_request

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._park.park(self._key, handle, self._last)

    def discard(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class WarmSessions:
    """Parked ticket sessions, each with its pair (ticket id, ticket string, holder) and the pair's last request
    time. A pair may have several: the overlapping requests of one client (a download on several threads, a
    sync with a few workers) each park theirs, so the next overlapping ones find a connection too, instead of
    logging in afresh. At most ``max_idle`` in all, the oldest closed first."""

    def __init__(self, max_idle: int) -> None:
        self._max_idle = max(0, max_idle)
        self._lock = threading.Lock()
        self._idle: list[tuple[Key, _Closable, datetime]] = []  # oldest first
        self._window = 0.0

    def take(self, key: Key, now: datetime, window: float) -> _Closable | None:
        """A parked session of the pair whose last request lies within ``window`` of ``now`` (it continues that
        use), the most recently parked first; else ``None``. Sessions whose window has passed are closed."""
        with self._lock:
            self._window = window
            stale = self._expired(now)
            found = None
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index][0] == key:
                    found = self._idle.pop(index)
                    break
        for handle in stale:
            handle.close()
        if found is None:
            return None
        _, handle, last = found
        if policy.continues_use(last, now, window):
            return handle
        handle.close()
        return None

    def park(self, key: Key, handle: _Closable, last_request: datetime) -> None:
        """Keep ``handle`` for a next request of the pair (closing whatever it pushes out)."""
        closing: list[_Closable] = []
        with self._lock:
            if self._max_idle:
                self._idle.append((key, handle, last_request))
                closing += self._expired(last_request)
                while len(self._idle) > self._max_idle:
                    closing.append(self._idle.pop(0)[1])
            else:
                closing.append(handle)
        for stale in closing:
            stale.close()

    def _expired(self, now: datetime) -> list[_Closable]:
        kept = [entry for entry in self._idle if policy.continues_use(entry[2], now, self._window)]
        gone = [entry[1] for entry in self._idle if not policy.continues_use(entry[2], now, self._window)]
        self._idle = kept
        return gone

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, handle, _ in idle:
            handle.close()
