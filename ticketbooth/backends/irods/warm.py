"""Ticket sessions kept open between the requests of one key pair, for the use window (``s3.use_window``).

iRODS counts one use per connection on which a ticket is supplied, so the only way to make the requests of a
window one iRODS use is to run them on one connection: after a request, its ticket session is *parked* here
with the request's time instead of being closed; the pair's next request within the window (the same rule as
everywhere, ``policy.continues_use``) takes it back and counts nothing new. Per process and one request at a
time: concurrent requests of a pair, or requests reaching another gateway worker, open their own connection
and iRODS counts each (docs/irods.md). Parked sessions hold connection slots, so at most ``max_idle`` are kept
and expired ones are closed whenever a session is taken or parked.
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
    """Parked ticket sessions by (ticket id, ticket string, holder), each with its pair's last request time."""

    def __init__(self, max_idle: int) -> None:
        self._max_idle = max(0, max_idle)
        self._lock = threading.Lock()
        self._idle: dict[Key, tuple[_Closable, datetime]] = {}
        self._window = 0.0

    def take(self, key: Key, now: datetime, window: float) -> _Closable | None:
        """The pair's parked session if its last request lies within ``window`` of ``now`` (it continues that
        use), else ``None``; sessions whose window has passed are closed."""
        with self._lock:
            self._window = window
            entry = self._idle.pop(key, None)
            stale = self._expired(now)
        for handle in stale:
            handle.close()
        if entry is None:
            return None
        handle, last = entry
        if policy.continues_use(last, now, window):
            return handle
        handle.close()
        return None

    def park(self, key: Key, handle: _Closable, last_request: datetime) -> None:
        """Keep ``handle`` for the pair's next request (closing whatever it replaces or pushes out)."""
        closing: list[_Closable] = []
        with self._lock:
            previous = self._idle.pop(key, None)
            if previous is not None:
                closing.append(previous[0])
            if self._max_idle:
                self._idle[key] = (handle, last_request)
                closing += self._expired(last_request)
                while len(self._idle) > self._max_idle:  # dicts keep insertion order: the oldest goes first
                    closing.append(self._idle.pop(next(iter(self._idle)))[0])
            else:
                closing.append(handle)
        for stale in closing:
            stale.close()

    def _expired(self, now: datetime) -> list[_Closable]:
        gone = [key for key, (_, last) in self._idle.items() if not policy.continues_use(last, now, self._window)]
        return [self._idle.pop(key)[0] for key in gone]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for handle, _ in idle.values():
            handle.close()
