"""The audit trail: who created, changed, revoked or was refused what, as events in a log and in a store.

An :class:`AuditEvent` is ``{time, action, ticket_id, actor, client_addr, request_id, detail}``. Actions
(:data:`ACTIONS`): ``created``, ``modified`` (``detail.changes`` names each changed field with its old and new
value), ``revoked``, ``expired`` and ``exhausted`` (once per ticket, when TicketBooth first notices it: a refused
request, or the use that used the ticket up), and ``denied`` (every refused S3, link or authorize request, with
the S3 code and TicketBooth's reason). Granted uses are not events: :meth:`AuditTrail.granted` keeps per-ticket
first/last use times and counts (:class:`TicketUsage`) instead, shown on the ticket resource. Those counts are
gathered in memory and written at most once a second (:data:`USAGE_FLUSH_SECONDS`, by a background thread), so
a granted request costs no database write of its own.

:class:`AuditTrail` writes each event (a) as one JSON document to the ``ticketbooth.audit`` logger and (b) to the
:class:`AuditStore` (``ticketbooth.auditstore``) behind ``GET /v1/events``. A store that fails never fails the
request: the event is still logged, the failure is logged and counted. Never a secret: no ticket string, no
signature, no key secret goes into an event.
"""
from __future__ import annotations

import abc
import atexit
import json
import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import BackendUnavailable, InvalidRequest
from .logs import current_request
from .metrics import instruments

__all__ = ["ACTIONS", "AuditEvent", "EventQuery", "EventPage", "TicketUsage", "UsageDelta", "AuditStore",
           "AuditTrail", "AUDIT_LOGGER", "ANONYMOUS_ACTOR", "USAGE_FLUSH_SECONDS"]

#: Longest time a use counted in memory waits before it is written to the store.
USAGE_FLUSH_SECONDS = 1.0

ACTIONS = ("created", "modified", "revoked", "expired", "exhausted", "denied")
AUDIT_LOGGER = "ticketbooth.audit"
ANONYMOUS_ACTOR = "anonymous"

log = logging.getLogger(AUDIT_LOGGER)
# Not __name__: that is the audit logger itself, which carries events only.
_log_failures = logging.getLogger("ticketbooth.auditing")


@dataclass(frozen=True)
class AuditEvent:
    """One audit event. ``owner`` is the owner of the ticket concerned (who may read the event; ``None``: admins
    only). ``id`` is given by the store (ascending in the order events were stored)."""

    time: datetime
    action: str
    ticket_id: int | None
    actor: str
    client_addr: str | None = None
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    id: int | None = None

    def document(self) -> dict[str, Any]:
        """The event as JSON-ready data (the log line and the API resource)."""
        return {"id": self.id, "time": self.time.isoformat(), "action": self.action, "ticket_id": self.ticket_id,
                "actor": self.actor, "client_addr": self.client_addr, "request_id": self.request_id,
                "detail": dict(self.detail)}


@dataclass(frozen=True)
class EventQuery:
    """A page of events in ascending id order. ``owner``: only events of that owner's tickets (``None``: all)."""

    owner: str | None = None
    ticket_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    after_id: int = 0
    limit: int = 100


@dataclass(frozen=True)
class EventPage:
    items: tuple[AuditEvent, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class TicketUsage:
    """Granted and refused uses of one ticket through TicketBooth, and when it was first and last used."""

    first_used_at: datetime | None = None
    last_used_at: datetime | None = None
    granted: int = 0
    denied: int = 0
    noticed: frozenset[str] = frozenset()  # the statuses already recorded as events (expired, exhausted)


@dataclass
class UsageDelta:
    """Uses of one ticket counted since the last write: added to the stored :class:`TicketUsage`."""

    granted: int = 0
    denied: int = 0
    first_used_at: datetime | None = None
    last_used_at: datetime | None = None

    def add(self, now: datetime, *, granted: bool) -> None:
        if not granted:
            self.denied += 1
            return
        self.granted += 1
        self.first_used_at = now if self.first_used_at is None else min(self.first_used_at, now)
        self.last_used_at = now if self.last_used_at is None else max(self.last_used_at, now)


class AuditStore(abc.ABC):
    """Where events and per-ticket usage are kept. Every method may raise ``BackendError``."""

    @abc.abstractmethod
    def append(self, event: AuditEvent) -> AuditEvent:
        """Store ``event``; return it with its ``id``."""

    @abc.abstractmethod
    def events(self, query: EventQuery) -> list[AuditEvent]:
        """Up to ``query.limit`` events with ``id > query.after_id`` matching ``query``, ascending by id."""

    @abc.abstractmethod
    def add_usage(self, deltas: Mapping[int, UsageDelta]) -> None:
        """Add each ticket's counts (and widen its first/last use times), all in one transaction."""

    @abc.abstractmethod
    def usage(self, ticket_ids: Sequence[int]) -> dict[int, TicketUsage]:
        """The usage of each ticket that has any (tickets never used are missing)."""

    @abc.abstractmethod
    def first_notice(self, ticket_id: int, status: str, now: datetime) -> bool:
        """``True`` exactly once per ticket and ``status`` (``expired``/``exhausted``), atomically."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class AuditTrail:
    """Records events to the audit log and ``store``; ``clock`` stamps them."""

    def __init__(self, store: AuditStore | None, clock: Callable[[], datetime],
                 flush_seconds: float = USAGE_FLUSH_SECONDS) -> None:
        self.store = store
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._pending: dict[int, UsageDelta] = {}
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._exit_hook = False

    def record(self, action: str, *, ticket_id: int | None, actor: str | None, owner: str | None = None,
               detail: Mapping[str, Any] | None = None, client_addr: str | None = None,
               request_id: str | None = None, now: datetime | None = None) -> AuditEvent:
        """Log and store one event. ``client_addr`` and ``request_id`` default to the current request's."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        context = current_request()
        event = AuditEvent(
            time=now or self._clock(), action=action, ticket_id=ticket_id, actor=actor or ANONYMOUS_ACTOR,
            client_addr=client_addr if client_addr is not None else context.client_addr,
            request_id=request_id if request_id is not None else context.request_id,
            detail=dict(detail or {}), owner=owner,
        )
        instruments().count("ticketbooth_audit_events_total", {"action": action})
        if self.store is not None:
            try:
                event = self.store.append(event)
            except Exception as err:  # noqa: BLE001 - the request goes on; the event is still logged below
                instruments().count("ticketbooth_audit_store_errors_total")
                _log_failures.error("the audit store failed to keep an event: %s", type(err).__name__)
        document = event.document()
        log.info(json.dumps(document, sort_keys=True), extra={"event": document})
        return event

    def granted(self, ticket_id: int, *, now: datetime | None = None) -> None:
        """Count a granted use of the ticket (not an event)."""
        self._count(ticket_id, now or self._clock(), granted=True)

    def refused(self, ticket_id: int, *, now: datetime | None = None) -> None:
        self._count(ticket_id, now or self._clock(), granted=False)

    def notice(self, status: str, *, ticket_id: int, owner: str | None, actor: str | None,
               now: datetime | None = None) -> None:
        """Record ``expired``/``exhausted`` the first time it is noticed for the ticket (once, across instances
        sharing a store; without a store at every notice)."""
        now = now or self._clock()
        if self.store is not None:
            try:
                if not self.store.first_notice(ticket_id, status, now):
                    return
            except Exception as err:  # noqa: BLE001
                instruments().count("ticketbooth_audit_store_errors_total")
                _log_failures.error("the audit store failed to note a ticket status: %s", type(err).__name__)
        self.record(status, ticket_id=ticket_id, actor=actor, owner=owner, now=now)

    def list(self, actor: Any, *, ticket_id: int | None = None, action: str | None = None,
             since: datetime | None = None, limit: int = 100, cursor: str | None = None) -> EventPage:
        """A page of the events ``actor`` (a ``model.Actor``) may see: admins all, others their tickets'."""
        from .backends.embedded.backend import decode_cursor, encode_cursor  # the tickets' cursor format

        if self.store is None:
            raise BackendUnavailable("no audit store is configured")
        if action is not None and action not in ACTIONS:
            raise InvalidRequest("unknown action", details={"field": "action"})
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be 1 to 1000", details={"field": "limit"})
        after = 0 if cursor is None else decode_cursor(cursor)
        query = EventQuery(owner=None if actor.is_admin else actor.name, ticket_id=ticket_id, action=action,
                           since=since, after_id=after, limit=limit + 1)
        rows = self.store.events(query)
        items = tuple(rows[:limit])
        return EventPage(items, encode_cursor(items[-1].id or 0) if len(rows) > limit else None)

    def usage(self, ticket_ids: Sequence[int]) -> dict[int, TicketUsage]:
        if self.store is None or not ticket_ids:
            return {}
        self.flush()  # this process's own counts are shown at once
        try:
            return self.store.usage(ticket_ids)
        except Exception as err:  # noqa: BLE001 - a ticket is still shown, without its usage
            instruments().count("ticketbooth_audit_store_errors_total")
            _log_failures.error("the audit store failed to report usage: %s", type(err).__name__)
            return {}

    def flush(self) -> None:
        """Write the uses counted in memory to the store now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending or self.store is None:
            return
        try:
            self.store.add_usage(pending)
        except Exception as err:  # noqa: BLE001 - counts are statistics; the requests were answered
            instruments().count("ticketbooth_audit_store_errors_total")
            _log_failures.error("the audit store failed to count %d ticket(s) uses: %s", len(pending),
                                type(err).__name__)

    def close(self) -> None:
        """Stop the background writer and write what is pending."""
        self._stop.set()
        flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout=5)
        self.flush()

    def _count(self, ticket_id: int, now: datetime, *, granted: bool) -> None:
        if self.store is None:
            return
        with self._lock:
            self._pending.setdefault(ticket_id, UsageDelta()).add(now, granted=granted)
            start = self._flusher is None and self._flush_seconds > 0
            if start:
                # Started on first use, so in a gunicorn worker it runs after the fork, in the worker.
                self._flusher = threading.Thread(target=self._flush_loop, name="ticketbooth-usage", daemon=True)
            if not self._exit_hook:
                # A worker leaving normally (gunicorn's --max-requests, a graceful stop) writes its last counts.
                # Weakly, so a trail nobody uses any more is not kept alive (or flushed) by the hook.
                atexit.register(_flush_at_exit, weakref.ref(self))
                self._exit_hook = True
        if self._flush_seconds <= 0:
            self.flush()
        elif start:
            assert self._flusher is not None
            self._flusher.start()

    def _flush_loop(self) -> None:
        # Runs while uses keep coming; ends after an idle interval (the next use starts it again).
        while not self._stop.wait(self._flush_seconds):
            self.flush()
            with self._lock:
                if not self._pending:
                    self._flusher = None
                    return


def _flush_at_exit(ref: weakref.ref[AuditTrail]) -> None:
    trail = ref()
    if trail is not None:
        trail.flush()
