"""A backend wrapper that measures every call at the seam, so each backend is measured the same way.

:class:`InstrumentedBackend` times each :class:`~.base.TicketBackend` call and each call of the data sessions it
opens (``list`` until its iterator ends) into ``ticketbooth_backend_call_duration_seconds``, and counts failures
into ``ticketbooth_backend_errors_total``. A failure is a :class:`~ticketbooth.errors.BackendError` or an
exception that is not a ``TicketBoothError``; refusals (an expired ticket, a missing path) are answers, not
failures. Methods beyond the seam (``master_key``, ``ensure_user`` ...) pass through unmeasured.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from ..errors import BackendError, TicketBoothError
from ..metrics import Instruments, instruments
from ..model import Actor, Ticket, TicketChanges, TicketPage, TicketQuery, TicketSpec
from .base import DataSession, ObjectInfo, ObjectLayout, ObjectMetadata, TicketBackend

__all__ = ["InstrumentedBackend", "instrument", "backend_name"]

T = TypeVar("T")


def backend_name(backend: TicketBackend) -> str:
    """``embedded``, ``irods`` or the class name of another backend (the ``backend`` label)."""
    name = type(backend).__name__
    return name[: -len("Backend")].lower() if name.endswith("Backend") and len(name) > 7 else name


class _Timer:
    def __init__(self, metrics: Instruments, backend: str) -> None:
        self._metrics = metrics
        self._backend = backend

    def call(self, name: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            self.failed(name, exc)
            raise
        finally:
            self.done(name, started)

    def done(self, name: str, started: float) -> None:
        self._metrics.observe("ticketbooth_backend_call_duration_seconds", {"backend": self._backend, "call": name},
                              time.perf_counter() - started)

    def failed(self, name: str, exc: BaseException) -> None:
        if isinstance(exc, BackendError) or not isinstance(exc, TicketBoothError | GeneratorExit):
            error = exc.code if isinstance(exc, TicketBoothError) else type(exc).__name__
            self._metrics.count("ticketbooth_backend_errors_total",
                                {"backend": self._backend, "call": name, "error": error})


class _InstrumentedSession(DataSession):
    def __init__(self, session: DataSession, timer: _Timer) -> None:
        self._session = session
        self._timer = timer
        self.ticket = session.ticket

    def stat(self, path: str) -> ObjectInfo:
        return self._timer.call("session.stat", self._session.stat, path)

    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        started = time.perf_counter()
        try:
            yield from self._session.list(collection, recursive=recursive, start_after=start_after)
        except BaseException as exc:
            self._timer.failed("session.list", exc)
            raise
        finally:
            self._timer.done("session.list", started)

    def open_read(self, path: str) -> BinaryIO:
        return self._timer.call("session.open_read", self._session.open_read, path)

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None,
              metadata: ObjectMetadata | None = None) -> ObjectInfo:
        return self._timer.call("session.write", self._session.write, path, stream, size=size, metadata=metadata)

    def copy(self, source: str, path: str, *, metadata: ObjectMetadata | None = None) -> ObjectInfo:
        return self._timer.call("session.copy", self._session.copy, source, path, metadata=metadata)

    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        return self._timer.call("session.set_layout", self._session.set_layout, path, layout)

    def delete(self, path: str) -> None:
        self._timer.call("session.delete", self._session.delete, path)

    def make_collection(self, path: str) -> ObjectInfo:
        return self._timer.call("session.make_collection", self._session.make_collection, path)

    def remove_collection(self, path: str) -> None:
        self._timer.call("session.remove_collection", self._session.remove_collection, path)

    def close(self) -> None:
        self._timer.call("session.close", self._session.close)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class InstrumentedBackend(TicketBackend):
    """``backend`` with every seam call measured; use :func:`instrument` to wrap."""

    def __init__(self, backend: TicketBackend, metrics: Instruments | None = None) -> None:
        self.inner = backend
        self.zone = backend.zone
        self._timer = _Timer(metrics or instruments(), backend_name(backend))

    def create_ticket(self, actor: Actor, spec: TicketSpec, *, now: datetime) -> Ticket:
        return self._timer.call("create_ticket", self.inner.create_ticket, actor, spec, now=now)

    def get_ticket(self, actor: Actor, ticket_id: int) -> Ticket:
        return self._timer.call("get_ticket", self.inner.get_ticket, actor, ticket_id)

    def find_ticket(self, ticket_id: int) -> Ticket | None:
        return self._timer.call("find_ticket", self.inner.find_ticket, ticket_id)

    def find_ticket_by_string(self, ticket_string: str) -> Ticket | None:
        return self._timer.call("find_ticket_by_string", self.inner.find_ticket_by_string, ticket_string)

    def list_tickets(self, actor: Actor, query: TicketQuery) -> TicketPage:
        return self._timer.call("list_tickets", self.inner.list_tickets, actor, query)

    def modify_ticket(self, actor: Actor, ticket_id: int, changes: TicketChanges, *, now: datetime) -> Ticket:
        return self._timer.call("modify_ticket", self.inner.modify_ticket, actor, ticket_id, changes, now=now)

    def delete_ticket(self, actor: Actor, ticket_id: int) -> None:
        self._timer.call("delete_ticket", self.inner.delete_ticket, actor, ticket_id)

    def user_groups(self, user: str) -> frozenset[str]:
        return self._timer.call("user_groups", self.inner.user_groups, user)

    def check_ready(self) -> None:
        self._timer.call("check_ready", self.inner.check_ready)

    def open_session(self, ticket: Ticket, holder: str, *, client_host: str | None, now: datetime,
                     window: float = 0.0) -> DataSession:
        session = self._timer.call("open_session", self.inner.open_session, ticket, holder,
                                   client_host=client_host, now=now, window=window)
        return _InstrumentedSession(session, self._timer)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Deployment helpers beyond the seam (master_key, ensure_user, home, put_object ...).
        return getattr(self.__dict__["inner"], name)


def instrument(backend: TicketBackend) -> TicketBackend:
    """``backend`` wrapped in :class:`InstrumentedBackend` (once: a wrapped backend is returned as it is)."""
    return backend if isinstance(backend, InstrumentedBackend) else InstrumentedBackend(backend)
