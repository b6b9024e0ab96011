"""Tickets this process read in full recently, reused while the catalog's ticket row is unchanged.

Every data request reads the ticket's row again (one query: ``Catalog.current``), so a revoked or deleted
ticket is refused at once. What that row does not carry — the allow-lists, the label, TicketBooth's counters —
costs five more queries; they are taken from the last full read of the ticket instead when

- the row is the same as then (``CurrentRow.signature``): iRODS moves the row's ``modify_ts`` on every ticket
  change, allow-lists included (observed on 5.0.2), and a PATCH of TicketBooth's own limits touches the row too
  (``IrodsBackend._apply``);
- the full read began at least ``settle`` seconds after the row's ``modify_ts`` (whole seconds, iRODS's clock): a
  change in the same second as the read would leave the stamp as it was, so a ticket changed just before is read
  in full every time until it has settled (``settle`` allows for a second of clock difference);
- the full read is at most ``ttl`` seconds old (``s3.key_cache_ttl``; 0 turns the memo off): what no row shows
  (group membership, counts moved by other instances) is at most that old, as the key cache already allows.

A change made through this process (modify, delete) forgets the ticket here at once. :func:`reusable` is the pure
rule; :class:`TicketMemo` keeps the entries (thread-safe, bounded).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...model import Ticket

__all__ = ["Remembered", "TicketMemo", "reusable"]


@dataclass(frozen=True)
class Remembered:
    """One full read: the ticket, the row signature it was read with, when the read began (epoch seconds, this
    host's clock) and until when (monotonic seconds) it may be reused."""

    ticket: Ticket
    signature: tuple[Any, ...]
    read_at: float
    until: float


def reusable(entry: Remembered | None, signature: tuple[Any, ...], modified: float, *, monotonic_now: float,
             settle: float) -> bool:
    """Whether ``entry`` still describes a ticket whose row now has ``signature`` and ``modify_ts`` ``modified``
    (epoch seconds) (pure; see the module docstring)."""
    return (entry is not None and entry.signature == signature and monotonic_now < entry.until
            and entry.read_at >= modified + settle)


class TicketMemo:
    """Full ticket reads by ticket id, and each holder's groups, for ``ttl`` seconds (0: nothing is kept)."""

    def __init__(self, ttl: float, *, settle: float = 2.0, max_entries: int = 4096,
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = max(0.0, ttl)
        self.settle = settle
        self._max = max(1, max_entries)
        self._wall, self._monotonic = wall, monotonic
        self._lock = threading.Lock()
        self._tickets: OrderedDict[int, Remembered] = OrderedDict()
        self._groups: OrderedDict[str, tuple[frozenset[str], float]] = OrderedDict()

    def now(self) -> float:
        """This host's clock, for :meth:`put`'s ``read_at`` (taken before the read begins)."""
        return self._wall()

    def get(self, ticket_id: int, signature: tuple[Any, ...], modified: float) -> Ticket | None:
        with self._lock:
            entry = self._tickets.get(ticket_id)
        if reusable(entry, signature, modified, monotonic_now=self._monotonic(), settle=self.settle):
            return entry.ticket  # type: ignore[union-attr]
        return None

    def put(self, ticket: Ticket, signature: tuple[Any, ...], read_at: float) -> None:
        if not self.ttl:
            return
        with self._lock:
            self._tickets[ticket.id] = Remembered(ticket, signature, read_at, self._monotonic() + self.ttl)
            self._tickets.move_to_end(ticket.id)
            while len(self._tickets) > self._max:
                self._tickets.popitem(last=False)

    def update(self, ticket: Ticket) -> None:
        """Keep the newer ``ticket`` (the same row, e.g. with the counts a use just wrote) in its entry."""
        with self._lock:
            entry = self._tickets.get(ticket.id)
            if entry is not None:
                self._tickets[ticket.id] = Remembered(ticket, entry.signature, entry.read_at, entry.until)

    def forget(self, ticket_id: int) -> None:
        with self._lock:
            self._tickets.pop(ticket_id, None)

    def groups(self, user: str) -> frozenset[str] | None:
        with self._lock:
            entry = self._groups.get(user)
        return entry[0] if entry is not None and self._monotonic() < entry[1] else None

    def put_groups(self, user: str, groups: frozenset[str]) -> None:
        if not self.ttl:
            return
        with self._lock:
            self._groups[user] = (groups, self._monotonic() + self.ttl)
            self._groups.move_to_end(user)
            while len(self._groups) > self._max:
                self._groups.popitem(last=False)
