"""TicketBooth's own use and write counters for iRODS tickets, kept in the catalog under a per-ticket lock.

Why not iRODS's own ``uses_count``/``write_file_count``/``write_byte_count``: observed on iRODS 5.0.2 (see
docs/irods.md, "What a use is"), iRODS counts a use per data-object *open* and per collection created, never for a
stat or a listing, only while the corresponding limit is above 0, and two write files for each new object. No
sequence of iRODS calls makes one S3 request cost exactly one use, and its check-then-increment is not atomic
across agents either. So TicketBooth keeps the limits and counts of the tickets it manages itself:

- the record of ticket ``<id>`` is the AVU ``ticketbooth.counters.<id>`` = JSON on the *state collection* (owned by
  the service account; default ``/<zone>/home/<service user>/.ticketbooth``); the iRODS ticket itself carries no
  count limits (``write-file 0``), so iRODS never refuses what TicketBooth admitted;
- every change (a use, a write reservation, a refund, a PATCHed limit) is a read-modify-write done while holding
  the ticket's lock, the collection ``<state>/locks/<id>``. Creating a collection that exists fails
  (``CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME``; the catalog has a unique index on collection names), so exactly one
  holder at a time, across every TicketBooth instance of the zone, changes a ticket's counters;
- a lock older than ``stale_after`` seconds is left by a crashed holder (a holder keeps it for a few catalog round
  trips only) and is broken with a warning;
- a lock whose release fails because the zone went away is released by this process as soon as the zone answers
  (``repairs``), not only when it goes stale; a PATCH cut short *keeps* its lock (:meth:`HeldLock.keep`) until the
  ticket has been put back as it was (:meth:`CounterStore.adopt`), so no use and no other change of that ticket
  sees the half-done state in between.

Every failure leaves :class:`CounterStore` as a :class:`~ticketbooth.errors.TicketBoothError` (through ``guard``,
the connector's :meth:`~.connection.Connector.call_service`, which also renews the service session after a network
failure); reads are retried once on a fresh session.

:class:`Counters` and the functions on it are pure; :class:`CounterStore` does the catalog I/O.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ... import policy
from ...errors import (
    BackendUnavailable,
    TicketBoothError,
    TicketExhausted,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from .connection import create_collection
from .errors import RETRY_AFTER_SECONDS, irods_code, is_network_failure, translate
from .repairs import Repairs

__all__ = [
    "ATTRIBUTE_PREFIX",
    "COUNT_FIELDS",
    "CounterStore",
    "Counters",
    "HeldLock",
    "admit_use",
    "note_request",
    "open_use",
    "counters_attribute",
    "decode",
    "encode",
    "refund_write",
    "reserve_write",
]

log = logging.getLogger(__name__)

ATTRIBUTE_PREFIX = "ticketbooth.counters."
CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME = -809000
CAT_UNKNOWN_COLLECTION = -814000
#: The fields a record shares with :class:`ticketbooth.model.Ticket`.
COUNT_FIELDS = ("uses_limit", "uses_count", "write_file_limit", "write_file_count", "write_byte_limit",
                "write_byte_count")
_FIELDS = (*COUNT_FIELDS, "modified")
_IN_CHUNK = 100
#: Key pairs whose use window one record remembers at most (the most recent): an AVU value holds 2700 bytes.
MAX_WINDOWS = 16


@dataclass(frozen=True)
class Counters:
    """The limits (0 = none) and counts of one ticket."""

    uses_limit: int = 0
    uses_count: int = 0
    write_file_limit: int = 0
    write_file_count: int = 0
    write_byte_limit: int = 0
    write_byte_count: int = 0
    #: Epoch seconds of the last change made through TicketBooth (limits, allow-lists, label), 0 for none: iRODS
    #: does not touch the ticket's modify_time for a change that is not in the ticket row.
    modified: int = 0
    #: The use window (``s3.use_window``): ``(holder, epoch seconds of the pair's last granted request)``, most
    #: recent last, for the pairs whose window may still be open. Shared by every instance through the record.
    windows: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, ticket: Any) -> Counters:
        """The counters as ``ticket`` (a :class:`ticketbooth.model.Ticket` or a spec) shows them."""
        return cls(**{name: int(getattr(ticket, name, 0) or 0) for name in COUNT_FIELDS})

    def replace(self, **changes: Any) -> Counters:
        return dataclasses.replace(self, **changes)


def counters_attribute(ticket_id: int) -> str:
    return f"{ATTRIBUTE_PREFIX}{int(ticket_id)}"


def encode(counters: Counters) -> str:
    data = dataclasses.asdict(counters)
    if not data["windows"]:
        del data["windows"]  # the record as it was before use windows were kept in it
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def decode(text: str) -> Counters | None:
    """The counters in an AVU value, or ``None`` when it is not one TicketBooth wrote."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    windows = data.pop("windows", [])
    if set(data) != set(_FIELDS):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data.values()):
        return None
    if not isinstance(windows, list) or not all(
        isinstance(w, list) and len(w) == 2 and isinstance(w[0], str)
        and isinstance(w[1], int | float) and not isinstance(w[1], bool) for w in windows
    ):
        return None
    return Counters(**data, windows=tuple((holder, float(when)) for holder, when in windows))


def admit_use(counters: Counters) -> Counters:
    """One more use, or ``TicketExhausted`` when the uses limit is reached (a refusal counts nothing)."""
    if counters.uses_limit and counters.uses_count >= counters.uses_limit:
        raise TicketExhausted()
    return counters.replace(uses_count=counters.uses_count + 1)


def _window_kept(counters: Counters, holder: str, when: float, now: datetime, window: float) -> Counters:
    """``counters`` remembering ``when`` as ``holder``'s last request, the pairs whose window has passed at
    ``now`` forgotten, at most :data:`MAX_WINDOWS` kept."""
    others = [(h, t) for h, t in counters.windows
              if h != holder and policy.continues_use(datetime.fromtimestamp(t, UTC), now, window)]
    return counters.replace(windows=(*others[-(MAX_WINDOWS - 1):], (holder, when)))


def open_use(counters: Counters, holder: str, now: datetime, window: float) -> Counters:
    """A granted request of ``holder`` at ``now``: it continues the pair's use when its last request lies
    within ``window`` seconds (``policy.continues_use``) and counts nothing, else it is one more use
    (:func:`admit_use`: ``TicketExhausted`` at the limit). With a window the request's time is remembered."""
    if window <= 0:
        return admit_use(counters)
    last = dict(counters.windows).get(holder)
    continuing = last is not None and policy.continues_use(datetime.fromtimestamp(last, UTC), now, window)
    updated = counters if continuing else admit_use(counters)
    when = max(now.timestamp(), last) if continuing and last is not None else now.timestamp()
    return _window_kept(updated, holder, round(when, 3), now, window)


def note_request(counters: Counters, holder: str, now: datetime, window: float) -> Counters:
    """Remember a request of ``holder`` at ``now`` that continued a use already counted (no count)."""
    last = dict(counters.windows).get(holder, 0.0)
    return _window_kept(counters, holder, round(max(now.timestamp(), last), 3), now, window)


def reserve_write(counters: Counters, size: int) -> Counters:
    """One more write file and ``size`` more bytes, or the write-limit error that applies."""
    if counters.write_file_limit and counters.write_file_count >= counters.write_file_limit:
        raise TicketWriteFilesExceeded()
    if counters.write_byte_limit and counters.write_byte_count + size > counters.write_byte_limit:
        raise TicketWriteBytesExceeded()
    return counters.replace(write_file_count=counters.write_file_count + 1,
                            write_byte_count=counters.write_byte_count + size)


def refund_write(counters: Counters, size: int) -> Counters:
    """Undo :func:`reserve_write` for a write that did not happen."""
    return counters.replace(write_file_count=max(counters.write_file_count - 1, 0),
                            write_byte_count=max(counters.write_byte_count - size, 0))


Guard = Callable[..., Any]


def _translating(func: Callable[[], Any], *, retry: bool = False) -> Any:
    """The default ``guard``: map failures, nothing more (the backend passes ``Connector.call_service``)."""
    try:
        return func()
    except TicketBoothError:
        raise
    except Exception as err:  # noqa: BLE001 - mapped
        raise translate(err) from err


class HeldLock:
    """A ticket's lock as :meth:`CounterStore.hold` holds it; :meth:`keep` leaves it held past the block."""

    def __init__(self, ticket_id: int) -> None:
        self.ticket_id = ticket_id
        self.kept = False

    def keep(self) -> None:
        """Do not release the lock when the block ends: whoever adopts it (:meth:`CounterStore.adopt`) does."""
        self.kept = True


class CounterStore:
    """The counter records on the state collection, through ``session_getter()`` (the service session).

    ``guard(func, retry=...)`` runs every catalog step (see the module docstring); ``repairs`` takes the lock
    releases that failed because the zone was unreachable.
    """

    def __init__(self, session_getter: Callable[[], Any], collection: str, *, lock_timeout: float,
                 stale_after: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 guard: Guard = _translating, repairs: Repairs | None = None) -> None:
        self._session = session_getter
        self.collection = collection
        self.lock_timeout = lock_timeout
        self.stale_after = stale_after
        self._sleep = sleep
        self._guard = guard
        self._repairs = repairs
        self._ready = False
        self._held = threading.local()  # the ticket ids whose lock this thread holds (hold() nests update())

    def _ensure(self) -> None:
        if not self._ready:
            self._session().collections.create(f"{self.collection}/locks", recurse=True)
            self._ready = True

    # -- reading ----------------------------------------------------------------------------------------------

    def read(self, ticket_ids: Iterable[int]) -> dict[int, Counters]:
        """The records of ``ticket_ids`` that exist (one paged query per 100 ids)."""
        ids = list(ticket_ids)
        return self._guard(lambda: self._read(ids), retry=True)  # type: ignore[no-any-return]

    def _read(self, ids: list[int]) -> dict[int, Counters]:
        from irods.column import In
        from irods.models import Collection, CollectionMeta

        found: dict[int, Counters] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            names = [counters_attribute(i) for i in ids[start : start + _IN_CHUNK]]
            q = self._session().query(CollectionMeta.name, CollectionMeta.value).filter(
                Collection.name == self.collection, In(CollectionMeta.name, names))
            for row in q.get_results():
                counters = decode(row[CollectionMeta.value])
                suffix = row[CollectionMeta.name][len(ATTRIBUTE_PREFIX):]
                if counters is not None and suffix.isdigit():
                    found[int(suffix)] = counters
        return found

    # -- changing ---------------------------------------------------------------------------------------------

    def update(self, ticket_id: int, change: Callable[[Counters], Counters], *, initial: Counters) -> Counters:
        """Apply ``change`` to the current record (``initial`` when there is none) under the ticket's lock.

        Whatever ``change`` raises propagates and nothing is written. Returns the record written.
        """
        from irods.meta import iRODSMeta
        from irods.models import Collection

        with self._locked(ticket_id):
            records = self.read([ticket_id])
            current = records.get(ticket_id, initial)
            updated = change(current)
            if updated != current or ticket_id not in records:
                self._guard(lambda: self._session().metadata.set(
                    Collection, self.collection, iRODSMeta(counters_attribute(ticket_id), encode(updated))))
            return updated

    def forget(self, ticket_id: int) -> None:
        """Remove the record of a deleted ticket (best effort: a leftover record names a ticket id never reused)."""
        from irods.meta import iRODSMeta
        from irods.models import Collection

        current = self.read([ticket_id]).get(ticket_id)
        if current is not None:
            self._guard(lambda: self._session().metadata.remove(
                Collection, self.collection, iRODSMeta(counters_attribute(ticket_id), encode(current))))

    # -- the lock ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, ticket_id: int) -> Iterator[HeldLock]:
        """Hold the ticket's lock around several steps (re-entrant in this thread: :meth:`update` inside takes
        it without waiting). A PATCH judged and applied inside is serialised against every other holder in
        every TicketBooth instance of the zone. Raises ``BackendUnavailable`` after ``lock_timeout``."""
        with self._locked(ticket_id) as held:
            yield held

    @contextlib.contextmanager
    def adopt(self, ticket_id: int) -> Iterator[None]:
        """Act, in this thread, as the holder of a lock a :class:`HeldLock` kept; release it once the block has
        completed (if the block raises, the lock stays kept, for the next attempt)."""
        held: set[int] = self._held.__dict__.setdefault("ids", set())
        held.add(ticket_id)
        try:
            yield
        finally:
            held.discard(ticket_id)
        self._guard(lambda: self._unlock(self._lock_path(ticket_id)))

    def _lock_path(self, ticket_id: int) -> str:
        return f"{self.collection}/locks/{int(ticket_id)}"

    @contextlib.contextmanager
    def _locked(self, ticket_id: int) -> Iterator[HeldLock]:
        held: set[int] = self._held.__dict__.setdefault("ids", set())
        lock = HeldLock(ticket_id)
        if ticket_id in held:
            yield lock
            return
        path = self._lock_path(ticket_id)
        self._guard(lambda: self._acquire(ticket_id, path))
        held.add(ticket_id)
        try:
            yield lock
        finally:
            held.discard(ticket_id)
            if not lock.kept:
                self._release(ticket_id, path)

    def _acquire(self, ticket_id: int, path: str) -> None:
        self._ensure()
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            try:
                create_collection(self._session(), path)
                return
            except Exception as err:  # noqa: BLE001 - only "exists" and "no parent" are expected
                code = irods_code(err)
                if code == CAT_UNKNOWN_COLLECTION:
                    self._ready = False
                    self._ensure()
                    continue
                if code != CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME:
                    raise
            if self._stale(path):
                log.warning("breaking the stale counter lock of ticket %s (older than %ss)", ticket_id,
                            self.stale_after)
                self._unlock(path)
                continue
            if time.monotonic() >= deadline:
                raise BackendUnavailable("the ticket's counters are busy; try again", retry_after=RETRY_AFTER_SECONDS)
            self._sleep(delay)
            delay = min(delay * 2, 0.1)

    def _release(self, ticket_id: int, path: str) -> None:
        try:
            self._guard(lambda: self._unlock(path))
        except TicketBoothError as err:
            if self._repairs is not None and is_network_failure(err):
                self._repairs.add(f"release the counter lock of ticket {ticket_id}",
                                  lambda: self._guard(lambda: self._unlock(path)))
                return
            # The change is made; the lock goes stale by itself.
            log.warning("could not release the counter lock of ticket %s (%s); it expires after %ss",
                        ticket_id, err.code, self.stale_after)

    def _stale(self, path: str) -> bool:
        from irods.models import Collection

        rows = list(self._session().query(Collection.create_time).filter(Collection.name == path).get_results())
        if not rows:
            return False  # released meanwhile: just try again
        created = rows[0][Collection.create_time]
        return isinstance(created, datetime) and (datetime.now(UTC) - created).total_seconds() > self.stale_after

    def _unlock(self, path: str) -> None:
        try:
            self._session().collections.remove(path, recurse=False, force=True)
        except Exception as err:  # noqa: BLE001 - a lock already gone is what we want
            if irods_code(err) != CAT_UNKNOWN_COLLECTION:
                raise
