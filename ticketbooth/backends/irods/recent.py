"""This process's memory of each key pair's last granted request, for the use window (``s3.use_window``).

The use window is decided from the pair's last request time kept in the ticket's counter record
(``counters.open_use``), under the ticket's catalog lock, so it holds across workers and instances. Taking that
lock for every request of a busy pair would serialise them (boto3 downloads on ten threads), so a process that
itself granted a request of the pair within the window lets the next ones continue that use from memory: the
use is already counted, nothing is decided against the limit. It still writes the time into the record at least
every half window (:meth:`RecentRequests.stale`), so that another worker seeing the pair's next request finds
the window open, too; a time not written yet can only make another worker count one use more, never fewer.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from ... import policy

__all__ = ["RecentRequests"]

Key = tuple[int, str, str]  # ticket id, ticket string, holder


class RecentRequests:
    """Per pair: the last granted request here and the last time written to the record (bounded in size)."""

    def __init__(self, max_pairs: int = 4096) -> None:
        self._max = max(1, max_pairs)
        self._lock = threading.Lock()
        self._pairs: dict[Key, tuple[datetime, datetime | None]] = {}

    def continues(self, key: Key, now: datetime, window: float) -> bool:
        """Whether this process granted the pair a request within ``window`` seconds of ``now``."""
        with self._lock:
            entry = self._pairs.get(key)
        return entry is not None and policy.continues_use(entry[0], now, window)

    def stale(self, key: Key, now: datetime, window: float) -> bool:
        """Whether the record's time for the pair is half a window or more behind ``now`` (write it again)."""
        with self._lock:
            entry = self._pairs.get(key)
        return entry is None or entry[1] is None or now - entry[1] >= timedelta(seconds=window / 2)

    def record(self, key: Key, now: datetime, window: float, *, written: bool) -> None:
        """Remember a granted request at ``now``; ``written``: its time is in the record now."""
        with self._lock:
            last, stored = self._pairs.pop(key, (now, None))
            self._pairs[key] = (max(last, now), now if written else stored)
            if len(self._pairs) > self._max:
                expired = [k for k, (t, _) in self._pairs.items() if not policy.continues_use(t, now, window)]
                for k in expired:
                    del self._pairs[k]
                while len(self._pairs) > self._max:  # dicts keep insertion order: the oldest goes first
                    del self._pairs[next(iter(self._pairs))]
