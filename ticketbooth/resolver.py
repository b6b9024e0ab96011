"""Resolve an S3 access key id to its ticket, holder and secret: the seam the verifier and gateways use.

It needs only the backend's ticket lookup and the master key from configuration, so any number of service and
gateway instances resolve the same keys without a database of their own. A short per-instance TTL cache keeps
the backend out of the hot path; a revoked ticket's keys therefore stop working on every instance within
``ttl`` seconds at most (at once on the instance that revoked it, which calls :meth:`KeyResolver.forget`).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from . import policy, s3keys
from .backends.base import TicketBackend
from .model import Ticket

__all__ = ["ResolvedKey", "KeyResolver"]


@dataclass(frozen=True)
class ResolvedKey:
    """A live key pair: the ticket it is bound to, who holds it, and its secret (never log this object)."""

    access_key_id: str
    ticket: Ticket
    holder: str
    secret_access_key: str

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"ResolvedKey(access_key_id={self.access_key_id!r}, ticket={self.ticket.id}, holder={self.holder!r})"


class KeyResolver:
    """``resolver(access_key_id) -> ResolvedKey | None``.

    ``None`` means the key is unknown: not minted under this master key, its ticket gone, or its holder no
    longer admitted by the ticket's allow-lists. Status (expired, exhausted) is *not* judged here, so the
    gateway can answer with the precise reason after the signature checks out.
    """

    def __init__(
        self,
        backend: TicketBackend,
        master_key: bytes,
        *,
        ttl: float = 5.0,
        max_entries: int = 4096,
        monotonic: Callable[[], float] = time.monotonic,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self._backend = backend
        self._master_key = master_key
        self._ttl = ttl
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._on_lookup = on_lookup  # told True for a cache hit, False for a lookup in the backend
        self._cache: OrderedDict[str, tuple[float, ResolvedKey | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> ResolvedKey | None:
        if self._ttl > 0:
            with self._lock:
                hit = self._cache.get(access_key_id)
                if hit is not None and hit[0] > self._monotonic():
                    self._cache.move_to_end(access_key_id)
                    if self._on_lookup is not None:
                        self._on_lookup(True)
                    return hit[1]
        if self._on_lookup is not None:
            self._on_lookup(False)
        resolved = self._resolve(access_key_id)
        if self._ttl > 0 and (resolved is not None or s3keys.parse_access_key_id(self._master_key, access_key_id)):
            # Only well-formed ids are cached, so forged ids cannot flush the cache.
            with self._lock:
                self._cache[access_key_id] = (self._monotonic() + self._ttl, resolved)
                self._cache.move_to_end(access_key_id)
                while len(self._cache) > self._max_entries:
                    self._cache.popitem(last=False)
        return resolved

    def secret_for(self, access_key_id: str) -> str | None:
        """The ``lookup_secret`` callable ``ticketbooth.sigv4.verify`` expects."""
        resolved = self(access_key_id)
        return None if resolved is None else resolved.secret_access_key

    def forget(self, ticket_id: int | None = None) -> None:
        """Drop cached entries (of one ticket, or all) after a local change such as a revocation."""
        with self._lock:
            if ticket_id is None:
                self._cache.clear()
                return
            for key in [k for k, (_, r) in self._cache.items() if r is not None and r.ticket.id == ticket_id]:
                del self._cache[key]

    def _resolve(self, access_key_id: str) -> ResolvedKey | None:
        identity = s3keys.parse_access_key_id(self._master_key, access_key_id)
        if identity is None:
            return None
        ticket = self._backend.find_ticket(identity.ticket_id)
        if ticket is None:
            return None
        if ticket.anonymous:
            if identity.holder != policy.ANONYMOUS_USER:
                return None
        elif not policy.admits(ticket, identity.holder, self._backend.user_groups(identity.holder)):
            return None
        secret = s3keys.secret_access_key(self._master_key, ticket.id, ticket.string, identity.holder)
        return ResolvedKey(access_key_id, ticket, identity.holder, secret)

    def mint(self, ticket: Ticket, holder: str) -> tuple[str, str]:
        """The (access key id, secret) pair of ``holder`` on ``ticket`` (anonymous tickets: holder ``anonymous``)."""
        return (
            s3keys.access_key_id(self._master_key, ticket.id, holder),
            s3keys.secret_access_key(self._master_key, ticket.id, ticket.string, holder),
        )
