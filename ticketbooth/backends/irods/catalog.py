"""Reading tickets from the iRODS catalog with GenQuery (``irods.models.TicketQuery``).

A page is fetched in the catalog: every source query is ``id > cursor``, ordered by ticket id and limited, and
the sources (e.g. collection and data-object tickets when filtering by path) are merged lazily by id. Only what
GenQuery cannot say is decided in Python on the rows it returned: segment-boundary path containment (GenQuery's
``like`` treats ``_`` and ``%`` in a path as wildcards, so a ``like`` filter is only ever a superset, never
trusted alone), status (uses_count >= uses_limit compares two columns) and whether a ticket is anonymous
(allow-lists live in other tables). Allow-lists and target paths are fetched per batch with ``in`` filters.

:func:`ticket_from_row` is the pure conversion from a catalog row to :class:`ticketbooth.model.Ticket`.
"""
from __future__ import annotations

import base64
import dataclasses
import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from irods.column import In, Like
from irods.models import Collection, CollectionMeta, DataObject, DataObjectMeta, Group, User
from irods.models import TicketQuery as TQ

from ... import errors as _errors
from ... import paths, policy
from ...errors import InvalidRequest
from ...model import Access, TargetKind, Ticket, TicketQuery
from .counters import COUNT_FIELDS, Counters, CounterStore
from .genquery import first_rows
from .labels import label_attribute, ticket_id_of

__all__ = [
    "BATCH",
    "decode_cursor",
    "encode_cursor",
    "expiry_from_catalog",
    "quote_safe",
    "Catalog",
    "CurrentRow",
    "ticket_from_row",
]

#: Rows fetched per catalog round trip while filling a page.
BATCH = 200
_IN_CHUNK = 100
_CURSOR = re.compile(r"^irods:(\d{1,19})$")
_TICKET_COLUMNS = list(TQ.Ticket._columns)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"irods:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The last ticket id of the previous page (0 for none); ``InvalidRequest`` for a cursor we did not make."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    match = _CURSOR.match(text)
    if not match or encode_cursor(int(match.group(1))) != cursor:
        # InvalidCursor (an InvalidRequest) where the core defines it.
        error = getattr(_errors, "InvalidCursor", InvalidRequest)
        raise error("cursor is not valid for this listing", details={"field": "cursor"})
    return int(match.group(1))


def quote_safe(value: str, field_name: str = "path") -> str:
    """GenQuery1 quotes values with ``'`` and cannot escape one: refuse such values rather than mangle a query."""
    if "'" in value:
        raise InvalidRequest(
            "the iRODS backend cannot query names containing an apostrophe (')", details={"field": field_name}
        )
    return value


def expiry_from_catalog(value: object) -> datetime | None:
    """``expiry_ts`` is a zero-padded epoch string ('01795284537'); empty or zero means no expiry."""
    if value is None or value == "":
        return None
    seconds = int(str(value))
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _access(value: str) -> Access:
    return Access.WRITE if value == "write" else Access.READ


def ticket_from_row(
    row: dict[Any, Any],
    *,
    owner: str,
    path: str,
    users: Sequence[str] = (),
    groups: Sequence[str] = (),
    hosts: Sequence[str] = (),
    label: str | None = None,
    counters: Counters | None = None,
) -> Ticket:
    """Build a :class:`Ticket` from a ``TicketQuery.Ticket`` row plus what other queries found (pure).

    ``counters`` (TicketBooth's own record, see ``counters.py``) replace the row's limits and counts; a ticket
    made outside TicketBooth has none and shows iRODS's.
    """
    kind = TargetKind.COLLECTION if row[TQ.Ticket.object_type] == "collection" else TargetKind.DATA_OBJECT
    ticket = Ticket(
        id=int(row[TQ.Ticket.id]),
        string=row[TQ.Ticket.string],
        path=path,
        target_kind=kind,
        access=_access(row[TQ.Ticket.type]),
        owner=owner,
        users=tuple(sorted(users)),
        groups=tuple(sorted(groups)),
        hosts=tuple(sorted(hosts)),
        uses_limit=int(row.get(TQ.Ticket.uses_limit) or 0),
        uses_count=int(row.get(TQ.Ticket.uses_count) or 0),
        write_file_limit=int(row.get(TQ.Ticket.write_file_limit) or 0),
        write_file_count=int(row.get(TQ.Ticket.write_file_count) or 0),
        write_byte_limit=int(row.get(TQ.Ticket.write_byte_limit) or 0),
        write_byte_count=int(row.get(TQ.Ticket.write_byte_count) or 0),
        expires_at=expiry_from_catalog(row.get(TQ.Ticket.expiry_ts)),
        created_at=row.get(TQ.Ticket.create_time),
        modified_at=row.get(TQ.Ticket.modify_time),
        label=label,
    )
    if counters is None:
        return ticket
    changes: dict[str, Any] = {name: getattr(counters, name) for name in COUNT_FIELDS}
    if counters.modified:
        stamp = datetime.fromtimestamp(counters.modified, UTC)
        if ticket.modified_at is None or stamp > ticket.modified_at:
            changes["modified_at"] = stamp
    return dataclasses.replace(ticket, **changes)


@dataclass(frozen=True)
class CurrentRow:
    """A ticket's catalog row as one query found it, with its target's path (see :meth:`Catalog.current`).

    ``signature`` changes whenever iRODS changes the ticket: every ``iticket mod`` (limits, expiry, and adding or
    removing a user, group or host) moves the row's ``modify_ts``, observed on 5.0.2
    (``test_every_ticket_change_moves_its_modify_time``), and the row carries the rest.
    """

    row: dict[Any, Any]
    path: str

    @property
    def string(self) -> str:
        return str(self.row[TQ.Ticket.string])

    @property
    def modified(self) -> float:
        """The row's ``modify_ts`` in epoch seconds (iRODS's clock, whole seconds)."""
        stamp = self.row.get(TQ.Ticket.modify_time)
        return stamp.timestamp() if isinstance(stamp, datetime) else 0.0

    @property
    def signature(self) -> tuple[Any, ...]:
        return (*(self.row.get(c) for c in _TICKET_COLUMNS), self.row.get(TQ.Owner.name), self.path)


@dataclass(frozen=True)
class _Source:
    """One GenQuery over tickets: its filters (beyond ``id > cursor``)."""

    filters: tuple[Any, ...] = ()


class Catalog:
    """Ticket lookups through ``session_getter()`` (the service account's session, which sees every ticket).

    ``service_hosts`` are the addresses TicketBooth itself connects to iRODS from; the backend adds them to every
    host-restricted ticket so that iRODS admits TicketBooth, and they are not part of the ticket as shown.
    """

    def __init__(self, session_getter: Callable[[], Any], zone: str, service_hosts: Sequence[str] = (), *,
                 counters: CounterStore | None = None) -> None:
        self._session = session_getter
        self.zone = zone
        self.service_hosts = frozenset(service_hosts)
        self._counters = counters

    # -- single tickets ------------------------------------------------------------------------------------

    def by_id(self, ticket_id: int) -> Ticket | None:
        return self._one(TQ.Ticket.id == int(ticket_id))

    def by_string(self, ticket_string: str) -> Ticket | None:
        # Ticket strings TicketBooth and iRODS make are [A-Za-z0-9]; anything else cannot exist and must not reach
        # the query text.
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", ticket_string or ""):
            return None
        found = self._one(TQ.Ticket.string == ticket_string)
        return found if found is not None and found.string == ticket_string else None

    def _one(self, criterion: Any) -> Ticket | None:
        rows = list(self._session().query(*_TICKET_COLUMNS, TQ.Owner.name).filter(criterion).get_results())
        if not rows:
            return None
        tickets = self._hydrate(rows)
        return tickets[0] if tickets else None

    def current(self, ticket: Ticket) -> CurrentRow | None:
        """``ticket``'s row as the catalog holds it now, joined with its target (one query): ``None`` when the
        ticket is gone (revoked, deleted out of band) or its target is. A ticket's kind never changes, so the
        join follows ``ticket.target_kind``."""
        if ticket.target_kind is TargetKind.COLLECTION:
            q = self._session().query(*_TICKET_COLUMNS, TQ.Owner.name, TQ.Collection.name).filter(
                TQ.Ticket.id == int(ticket.id))
        else:
            q = self._session().query(*_TICKET_COLUMNS, TQ.Owner.name, TQ.DataObject.name, TQ.DataObject.coll).filter(
                TQ.Ticket.object_type == "data", TQ.Ticket.id == int(ticket.id))
        found = first_rows(q, 1)
        if not found:
            return None
        row = found[0]
        if ticket.target_kind is TargetKind.COLLECTION:
            return CurrentRow(row, row[TQ.Collection.name])
        return CurrentRow(row, paths.join(row[TQ.DataObject.coll], row[TQ.DataObject.name]))

    def hydrate(self, current: CurrentRow) -> Ticket | None:
        """The full ticket (allow-lists, label, TicketBooth's counters) of a row :meth:`current` read."""
        tickets = self._hydrate([current.row], known_paths={int(current.row[TQ.Ticket.id]): current.path})
        return tickets[0] if tickets else None

    # -- pages ----------------------------------------------------------------------------------------------

    def page(
        self, query: TicketQuery, *, owner: str | None, shared_groups: frozenset[str] = frozenset(), now: datetime
    ) -> tuple[list[Ticket], str | None]:
        """One page for ``query`` (permissions already checked); ``owner`` None means every owner."""
        after = decode_cursor(query.cursor)
        if not 1 <= query.limit <= 1000:
            raise InvalidRequest("limit must be 1 to 1000", details={"field": "limit"})
        base: list[Any] = []
        if owner is not None:
            base.append(TQ.Owner.name == quote_safe(owner, "owner"))
        sources = self._sources(query, base, shared_groups)
        result: list[Ticket] = []
        for ticket in self._filtered(sources, after, query, now):
            result.append(ticket)
            if len(result) > query.limit:
                break
        if len(result) > query.limit:
            result = result[: query.limit]
            return result, encode_cursor(result[-1].id)
        return result, None

    def _sources(self, query: TicketQuery, base: list[Any], shared_groups: frozenset[str]) -> list[_Source]:
        heads: list[list[Any]] = [list(base)]
        if query.shared_with is not None:
            # Tickets are not "shared with" their own owner, whatever their allow-lists say.
            base = base + [TQ.Owner.name != quote_safe(query.shared_with, "shared_with")]
            heads = [base + [TQ.AllowedUsers.user_name == query.shared_with]]
            groups = sorted(g for g in shared_groups if "'" not in g)
            if groups:
                heads.append(base + [In(TQ.AllowedGroups.group_name, groups)])
        if query.path is None:
            return [_Source(tuple(head)) for head in heads]
        root = quote_safe(query.path.rstrip("/") or "/")
        sources: list[_Source] = []
        for head in heads:
            # Superset filters ('like' wildcards); containment is re-checked on whole segments in Python.
            sources.append(_Source(tuple(head + [Like(TQ.Collection.name, root + "%")])))
            # iRODS 5.0.2 answers CAT_SQL_ERR to a data-object collection filter without a condition on the
            # data object's name; "like %" is that condition.
            sources.append(_Source(tuple(head + [TQ.Ticket.object_type == "data",
                                                 Like(TQ.DataObject.coll, root + "%"),
                                                 Like(TQ.DataObject.name, "%")])))
            sources.append(_Source(tuple(head + [TQ.Ticket.object_type == "data",
                                                 TQ.DataObject.coll == paths.parent(root),
                                                 TQ.DataObject.name == paths.basename(root)])))
        return sources

    def _scan(self, source: _Source, after: int) -> Iterator[dict[Any, Any]]:
        """Rows of one source in ascending id order, fetched BATCH at a time with ``id > last``."""
        last = after
        while True:
            q = (
                self._session().query(*_TICKET_COLUMNS, TQ.Owner.name)
                .filter(*source.filters)
                .filter(TQ.Ticket.id > last)
                .order_by(TQ.Ticket.id)
                .limit(BATCH)
            )
            # At most one batch: get_results() alone would read every row after the cursor (limit() only sets
            # the rows per round trip).
            rows = first_rows(q, BATCH)
            rows.sort(key=lambda r: int(r[TQ.Ticket.id]))
            yield from rows
            if len(rows) < BATCH:
                return
            last = int(rows[-1][TQ.Ticket.id])

    def _filtered(self, sources: list[_Source], after: int, query: TicketQuery, now: datetime) -> Iterator[Ticket]:
        merged = heapq.merge(*(self._scan(s, after) for s in sources), key=lambda r: int(r[TQ.Ticket.id]))
        seen: set[int] = set()
        batch: list[dict[Any, Any]] = []

        def flush() -> Iterator[Ticket]:
            for ticket in self._hydrate(batch):
                if self._wanted(ticket, query, now):
                    yield ticket
            batch.clear()

        for row in merged:
            ident = int(row[TQ.Ticket.id])
            if ident in seen:
                continue
            seen.add(ident)
            batch.append(row)
            if len(batch) >= min(BATCH, query.limit + 1):
                yield from flush()
        yield from flush()

    @staticmethod
    def _wanted(ticket: Ticket, query: TicketQuery, now: datetime) -> bool:
        if query.path is not None and not paths.is_within(query.path.rstrip("/") or "/", ticket.path):
            return False
        if query.anonymous is not None and ticket.anonymous != query.anonymous:
            return False
        if query.status is not None and policy.ticket_status(ticket, query.now or now) is not query.status:
            return False
        if query.shared_with is not None and ticket.anonymous:
            return False
        return True

    # -- hydration ------------------------------------------------------------------------------------------

    def _hydrate(self, rows: Sequence[dict[Any, Any]], known_paths: dict[int, str] | None = None) -> list[Ticket]:
        """Add target paths and allow-lists to ticket rows (a few ``in`` queries per batch); ``known_paths``
        (ticket id -> target) are not looked up again."""
        if not rows:
            return []
        known = known_paths or {}
        ids = [int(r[TQ.Ticket.id]) for r in rows]
        coll_paths: dict[int, str] = {}
        data_paths: dict[int, str] = {}
        data_ids = [int(r[TQ.Ticket.id]) for r in rows if r[TQ.Ticket.object_type] != "collection"]
        coll_ids = [i for i in ids if i not in set(data_ids)]
        for ident in known:
            (data_paths if ident in data_ids else coll_paths)[ident] = known[ident]
        for chunk in _chunks([i for i in coll_ids if i not in known]):
            for r in self._session().query(TQ.Ticket.id, TQ.Collection.name).filter(
                    In(TQ.Ticket.id, chunk)).get_results():
                coll_paths[int(r[TQ.Ticket.id])] = r[TQ.Collection.name]
        for chunk in _chunks([i for i in data_ids if i not in known]):
            q = self._session().query(TQ.Ticket.id, TQ.DataObject.name, TQ.DataObject.coll).filter(
                TQ.Ticket.object_type == "data", In(TQ.Ticket.id, chunk)
            )
            for r in q.get_results():
                data_paths[int(r[TQ.Ticket.id])] = paths.join(r[TQ.DataObject.coll], r[TQ.DataObject.name])
        users = self._allowed(TQ.AllowedUsers.ticket_id, TQ.AllowedUsers.user_name, ids)
        groups = self._allowed(TQ.AllowedGroups.ticket_id, TQ.AllowedGroups.group_name, ids)
        hosts = self._allowed(TQ.AllowedHosts.ticket_id, TQ.AllowedHosts.host, ids)
        labels = self._labels(coll_ids, CollectionMeta, (Collection.name,), lambda r: r[Collection.name])
        labels.update(self._labels(data_ids, DataObjectMeta, (Collection.name, DataObject.name),
                                   lambda r: paths.join(r[Collection.name], r[DataObject.name])))
        counters = self._counters.read(ids) if self._counters is not None else {}
        tickets: list[Ticket] = []
        for row in rows:
            ident = int(row[TQ.Ticket.id])
            path = coll_paths.get(ident) or data_paths.get(ident)
            if path is None:
                # The target vanished between queries (or the row is half-visible): not a usable ticket.
                continue
            tickets.append(ticket_from_row(
                row, owner=row[TQ.Owner.name], path=path,
                users=users.get(ident, ()), groups=groups.get(ident, ()),
                hosts=[h for h in hosts.get(ident, ()) if h not in self.service_hosts],
                # Only an AVU on the ticket's own target is its label (see labels.py).
                label=labels.get((ident, path)),
                counters=counters.get(ident),
            ))
        return tickets

    def _labels(self, ids: list[int], meta: Any, path_columns: tuple[Any, ...],
                path_of: Callable[[dict[Any, Any]], str]) -> dict[tuple[int, str], str]:
        """Label AVUs of the tickets ``ids``, keyed by (ticket id, path of the object carrying the AVU)."""
        found: dict[tuple[int, str], str] = {}
        for chunk in _chunks(ids):
            q = self._session().query(*path_columns, meta.name, meta.value).filter(
                In(meta.name, [label_attribute(i) for i in chunk]))
            for r in q.get_results():
                ident = ticket_id_of(r[meta.name])
                if ident is not None:
                    found[(ident, path_of(r))] = r[meta.value]
        return found

    def _allowed(self, id_column: Any, value_column: Any, ids: Iterable[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for chunk in _chunks(list(ids)):
            for r in self._session().query(id_column, value_column).filter(In(id_column, chunk)).get_results():
                found.setdefault(int(r[id_column]), []).append(r[value_column])
        return found

    # -- users ----------------------------------------------------------------------------------------------

    def user_groups(self, user: str) -> frozenset[str]:
        if "'" in user or not user:
            return frozenset()
        q = self._session().query(Group.name).filter(User.name == user, User.zone == self.zone)
        # iRODS lists every user as a member of the group named after itself: that is not a group.
        return frozenset(r[Group.name] for r in q.get_results() if r[Group.name] != user)


def _chunks(values: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]

