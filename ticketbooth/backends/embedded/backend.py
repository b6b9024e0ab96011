"""The embedded backend: iRODS ticket semantics over a SQLite catalogue and a data directory acting as a zone.

Layout of ``data_dir``: ``catalog.sqlite3`` (tickets, users, groups, object checksums), ``zone/<zone>/...``
(the logical tree; ``/<zone>/home/<user>`` is owned by ``<user>``), ``.spool/`` (uploads in flight) and
``master.key`` (when no ``s3.master_key`` is configured). Several processes may share one data directory.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import re
import secrets
import sqlite3
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ... import paths, policy
from ...errors import (
    BackendUnavailable,
    ConfigError,
    InvalidCursor,
    InvalidPath,
    InvalidRequest,
    PathNotFound,
    PermissionDenied,
    TicketNotFound,
)
from ...model import UNSET, Actor, TargetKind, Ticket, TicketChanges, TicketPage, TicketQuery, TicketSpec
from ...privatefiles import make_private_dirs
from ..base import ObjectInfo, TicketBackend
from . import index
from .catalog import Catalog, PageFilter, from_micros, to_micros
from .indexer import Indexer
from .masterkey import load_or_create_master_key
from .session import EmbeddedSession
from .storage import ZoneStorage
from .usage import UsageTally

if TYPE_CHECKING:
    from ...settings import Settings

__all__ = ["EmbeddedBackend", "MAX_PAGE_SIZE", "TICKET_STRING_LENGTH"]

MAX_PAGE_SIZE = 1000
TICKET_STRING_LENGTH = 15
_TICKET_ALPHABET = string.ascii_letters + string.digits
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,28}$")
_CHANGE_COLUMNS = ("expires_at", "uses_limit", "write_file_limit", "write_byte_limit", "label")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def encode_cursor(last_id: int) -> str:
    """The opaque cursor after ticket ``last_id``: base64url (unpadded) of its decimal id."""
    return base64.urlsafe_b64encode(str(last_id).encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The ticket id a cursor from :func:`encode_cursor` names; ``InvalidCursor`` for anything else."""
    if isinstance(cursor, str) and _CURSOR.match(cursor):
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            text = ""
        if text.isdigit() and text.isascii() and encode_cursor(int(text)) == cursor:
            return int(text)
    raise InvalidCursor(details={"field": "cursor"})


class EmbeddedBackend(TicketBackend):
    """Tickets with iRODS semantics, stored in ``<data_dir>/catalog.sqlite3``, over the zone in ``data_dir``.

    ``users`` get a home at start-up; ``groups`` (name -> members) are set to exactly those members.
    ``index_interval`` (seconds) starts the background indexer (:mod:`.indexer`): a pass at once, then one each
    interval and soon after a listing meets a collection changed by hand; ``None``: only :meth:`reindex`.
    ``master_key`` (>= 32 bytes) overrides ``<data_dir>/master.key``. ``clock`` stamps the modification time
    of data written through tickets and of provisioned users; ticket methods take ``now`` explicitly.

    Choices where the seam leaves room (the conformance suite checks them): creating a ticket needs ownership
    even for admins; ``shared_with`` lists tickets whose allow-lists name the user or one of their groups,
    leaving out the user's own; an anonymous ticket is visible only to its owner and admins (ids are
    sequential); a refused session or write is not counted; allow-listed users need not exist, groups must.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        zone: str = "tempZone",
        *,
        users: Iterable[str] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
        master_key: str | bytes | None = None,
        clock: Callable[[], datetime] | None = None,
        index_interval: float | None = None,
    ) -> None:
        try:
            paths.validate_path(f"/{zone}/home", zone)
        except InvalidPath:
            raise ConfigError("the embedded zone name must be one valid path segment") from None
        self.zone = zone
        self.data_dir = os.path.abspath(os.fspath(data_dir))
        make_private_dirs(self.data_dir)
        self._clock = clock or _utcnow
        self._master_key = master_key.encode("utf-8") if isinstance(master_key, str) else master_key
        self._storage = ZoneStorage(self.data_dir, zone)
        self._catalog = Catalog(os.path.join(self.data_dir, "catalog.sqlite3"))
        try:
            for name, members in (groups or {}).items():
                self.ensure_group(name, members, exact=True)
            for name in users:
                self.ensure_user(name)
        except BaseException:
            self._catalog.close()
            self._storage.close()
            raise
        self._tally = UsageTally(self._catalog)
        self._indexer = (Indexer(self.data_dir, self.reindex, index_interval)
                         if index_interval is not None and index_interval > 0 else None)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> EmbeddedBackend:
        """Build from ``settings.data_dir``, ``settings.embedded`` and ``settings.s3.master_key``."""
        return cls(
            settings.data_dir,
            settings.embedded.zone,
            users=settings.embedded.users,
            groups=settings.embedded.groups,
            master_key=settings.s3.master_key or None,
            clock=clock,
            index_interval=settings.embedded.index_interval or None,
        )

    # -- deployment ----------------------------------------------------------------------------------------

    def master_key(self) -> bytes:
        """The S3 master key: the configured one, else ``<data_dir>/master.key`` (generated on first use)."""
        if self._master_key is None:
            self._master_key = load_or_create_master_key(self.data_dir)
        return self._master_key

    def home(self, user: str) -> str:
        """The logical path of ``user``'s home collection."""
        return f"/{self.zone}/home/{user}"

    def ensure_user(self, name: str) -> str:
        """Provision ``name`` (record it, create its home collection) if new; return the home's path.

        ``InvalidRequest`` when the name cannot be a user (empty, ``/``, ``.``/``..``, control characters).
        """
        if not isinstance(name, str) or not name or "/" in name or name == policy.ANONYMOUS_USER:
            raise InvalidRequest("invalid user name", details={"field": "user"})
        try:
            home = paths.join(f"/{self.zone}/home", name)
        except InvalidPath:
            raise InvalidRequest("invalid user name", details={"field": "user"}) from None
        with self._catalog.write() as conn:
            self._catalog.add_user(conn, name, self._clock())
            index.record_collections(conn, self._storage.make_collections(home))
        return home

    def ensure_group(self, name: str, members: Iterable[str] = (), *, exact: bool = False) -> None:
        """Create group ``name`` if absent and add ``members``; ``exact`` makes them its only members."""
        if not isinstance(name, str) or not name or any(ord(c) < 0x20 for c in name):
            raise InvalidRequest("invalid group name", details={"field": "group"})
        with self._catalog.write() as conn:
            self._catalog.add_group(conn, name, list(members), exact=exact)

    def reindex(self, stop: Callable[[], bool] = lambda: False) -> index.IndexStats:
        """Bring the index of the zone in line with the disk (see :func:`index.reconcile`)."""
        return index.reconcile(self._catalog, self._storage, stop=stop)

    def path_kind(self, path: str) -> TargetKind | None:
        """What is at logical ``path``: a collection, a data object, or ``None``. Raises ``InvalidPath``."""
        kind = self._storage.kind(paths.validate_path(path, self.zone))
        return None if kind is None else TargetKind(kind)

    def make_collection(self, path: str) -> None:
        """Create collection ``path`` and its parents, bypassing tickets (demo data, tests, admin tools)."""
        with self._catalog.write() as conn:
            index.record_collections(conn, self._storage.make_collections(paths.validate_path(path, self.zone)))

    def put_object(self, path: str, data: bytes) -> ObjectInfo:
        """Store ``data`` as the data object ``path`` (parents created), bypassing tickets and their limits."""
        path = paths.validate_path(path, self.zone)
        spooled = self._storage.spool(io.BytesIO(data), size=len(data), max_bytes=None, too_big=InvalidRequest)
        try:
            with self._catalog.write() as conn:
                st, touched = self._storage.place(spooled, path, mtime_ns=to_micros(self._clock()) * 1000)
                index.record_object(conn, path, st.st_size, st.st_mtime_ns, spooled.md5)
                index.record_collections(conn, touched)
        finally:
            self._storage.discard(spooled)
        return ObjectInfo(path, False, spooled.size, from_micros(st.st_mtime_ns // 1000), spooled.md5)

    # -- catalogue -----------------------------------------------------------------------------------------

    def create_ticket(self, actor: Actor, spec: TicketSpec, *, now: datetime) -> Ticket:
        path = paths.validate_path(spec.path, self.zone)
        # Ownership first, so nobody learns what exists in someone else's home.
        if paths.home_of(path, self.zone) != actor.name:
            raise PermissionDenied("only the owner of a path may issue tickets on it", details={"path": path})
        kind = self._storage.kind(path)
        if kind is None:
            raise PathNotFound(details={"path": path})
        draft = Ticket(
            id=0, string="", path=path, target_kind=TargetKind(kind), access=spec.access, owner=actor.name,
            users=spec.users, groups=spec.groups, hosts=spec.hosts, uses_limit=spec.uses_limit,
            write_file_limit=spec.write_file_limit, write_byte_limit=spec.write_byte_limit,
            expires_at=spec.expires_at, created_at=now, modified_at=now, label=spec.label,
        )
        with self._catalog.write() as conn:
            self._check_groups(conn, spec.groups)
            for _ in range(8):
                draft = replace(draft, string=_new_ticket_string())
                try:
                    ticket_id = self._catalog.insert_ticket(conn, draft)
                except sqlite3.IntegrityError:  # ticket string taken: draw again
                    continue
                break
            else:  # pragma: no cover - 62**15 strings make this practically unreachable
                raise BackendUnavailable("could not draw a unique ticket string")
            created = self._catalog.get_ticket(conn, ticket_id)
        assert created is not None
        return created

    def get_ticket(self, actor: Actor, ticket_id: int) -> Ticket:
        with self._catalog.read() as conn:
            ticket = self._catalog.get_ticket(conn, ticket_id)
            visible = ticket is not None and self._visible(conn, actor, ticket)
        if not visible:
            raise TicketNotFound(details={"id": ticket_id})
        assert ticket is not None
        return self._with_pending(ticket)

    def find_ticket(self, ticket_id: int) -> Ticket | None:
        with self._catalog.read() as conn:
            found = self._catalog.get_ticket(conn, ticket_id)
        return None if found is None else self._with_pending(found)

    def find_ticket_by_string(self, ticket_string: str) -> Ticket | None:
        if not isinstance(ticket_string, str) or not ticket_string:
            return None
        with self._catalog.read() as conn:
            found = self._catalog.get_ticket_by_string(conn, ticket_string)
        return None if found is None else self._with_pending(found)

    def list_tickets(self, actor: Actor, query: TicketQuery) -> TicketPage:
        if isinstance(query.limit, bool) or not isinstance(query.limit, int) or not 1 <= query.limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"limit must be 1 to {MAX_PAGE_SIZE}", details={"field": "limit"})
        after_id = 0 if query.cursor is None else decode_cursor(query.cursor)
        others = [
            query.owner is not None and query.owner != actor.name,
            query.shared_with is not None and query.shared_with != actor.name,
            query.all_owners,
        ]
        if any(others) and not actor.is_admin:
            raise PermissionDenied("only admins may list other users' tickets")
        owner = query.owner
        if owner is None and query.shared_with is None and not query.all_owners:
            owner = actor.name
        path = None if query.path is None else paths.validate_path(query.path, self.zone)
        flt = PageFilter(
            owner=owner, shared_with=query.shared_with, path=path, anonymous=query.anonymous, status=query.status,
            after_id=after_id, limit=query.limit + 1, now=query.now or self._clock(),
        )
        with self._catalog.read() as conn:
            rows = self._catalog.page(conn, flt)
        items = tuple(self._with_pending(t) for t in rows[: query.limit])
        next_cursor = encode_cursor(items[-1].id) if len(rows) > query.limit else None
        return TicketPage(items=items, next_cursor=next_cursor)

    def modify_ticket(self, actor: Actor, ticket_id: int, changes: TicketChanges, *, now: datetime) -> Ticket:
        with self._catalog.write() as conn:
            ticket = self._catalog.get_ticket(conn, ticket_id)
            if ticket is None or not policy.can_manage(actor, ticket):
                raise TicketNotFound(details={"id": ticket_id})
            fields: dict[str, object] = {
                name: getattr(changes, name) for name in _CHANGE_COLUMNS if getattr(changes, name) is not UNSET
            }
            users = None if changes.users is UNSET else changes.users
            groups = None if changes.groups is UNSET else changes.groups
            if groups is not None:
                self._check_groups(conn, groups)  # type: ignore[arg-type]
            hosts = None if changes.hosts is UNSET else changes.hosts
            # Judge the merged result here, inside BEGIN IMMEDIATE, against the ticket as it is now: the caller
            # validated against an earlier read, and a concurrent PATCH may have changed the lists since.
            policy.check_kind_kept(ticket, changes)
            fields["modified_at"] = now
            self._catalog.update_ticket(conn, ticket_id, fields)
            self._catalog.replace_allow_lists(conn, ticket_id, users=users, groups=groups, hosts=hosts)  # type: ignore[arg-type]
            updated = self._catalog.get_ticket(conn, ticket_id)
        assert updated is not None
        return self._with_pending(updated)

    def delete_ticket(self, actor: Actor, ticket_id: int) -> None:
        with self._catalog.write() as conn:
            ticket = self._catalog.get_ticket(conn, ticket_id)
            if ticket is None or not policy.can_manage(actor, ticket):
                raise TicketNotFound(details={"id": ticket_id})
            self._catalog.delete_ticket(conn, ticket_id)

    def user_groups(self, user: str) -> frozenset[str]:
        with self._catalog.read() as conn:
            return self._catalog.groups_of(conn, user)

    def check_ready(self) -> None:
        with self._catalog.read() as conn:
            conn.execute("SELECT 1 FROM tickets LIMIT 1").fetchall()
        if not os.path.isdir(self._storage.root) or not os.path.isdir(self._storage.spool_dir):
            raise BackendUnavailable("the embedded zone's data directory is missing")

    # -- data path -----------------------------------------------------------------------------------------

    def open_session(self, ticket: Ticket, holder: str, *, client_host: str | None, now: datetime,
                     window: float = 0.0) -> EmbeddedSession:
        # Decide from a read snapshot (WAL: no lock); only a new use under a uses limit takes the write lock.
        with self._catalog.read() as conn:
            current = self._catalog.get_ticket(conn, ticket.id)
            if current is None:
                raise TicketNotFound(details={"id": ticket.id})
            continuing = window > 0 and policy.continues_use(self._last_request(conn, current.id, holder), now,
                                                             window)
            groups = self._groups(conn, current, holder)
        if policy.needs_counted_use(current, continuing=continuing):
            used = self._count_use(current.id, holder, client_host, now, window)
        else:
            policy.check_usable(current, holder, groups, client_host, now, continuing=continuing)
            self._tally.add(current.id, holder, use=not continuing, request_at=now if window > 0 else None)
            used = self._with_pending(current)
        return EmbeddedSession(self._catalog, self._storage, used, holder, self._clock, self._nudge)

    def _count_use(self, ticket_id: int, holder: str, client_host: str | None, now: datetime,
                   window: float) -> Ticket:
        """Check and count one use under the write lock: concurrent sessions (threads or processes sharing the
        catalogue) see each other's uses and requests, so a limit of N is never overshot."""
        def count(conn: sqlite3.Connection) -> Ticket:
            current = self._catalog.get_ticket(conn, ticket_id)
            if current is None:
                raise TicketNotFound(details={"id": ticket_id})
            continuing = window > 0 and policy.continues_use(self._last_request(conn, current.id, holder), now,
                                                             window)
            policy.check_usable(current, holder, self._groups(conn, current, holder), client_host, now,
                                continuing=continuing)
            if not continuing:
                self._catalog.count_use(conn, current.id)
            if window > 0:
                self._catalog.record_request(conn, current.id, holder, now)
            return current if continuing else replace(current, uses_count=current.uses_count + 1)

        # Concurrent counts share one transaction and its fsync (group commit); each sees the ones before it.
        return self._with_pending(self._catalog.commit(count))

    def _groups(self, conn: sqlite3.Connection, ticket: Ticket, holder: str) -> frozenset[str]:
        """The holder's groups where the ticket's allow-lists depend on them (a query saved per request)."""
        return self._catalog.groups_of(conn, holder) if policy.needs_groups(ticket, holder) else frozenset()

    def _last_request(self, conn: sqlite3.Connection, ticket_id: int, holder: str) -> datetime | None:
        stored, pending = self._catalog.last_request(conn, ticket_id, holder), self._tally.last_request(ticket_id, holder)
        return max(stored, pending) if stored is not None and pending is not None else stored or pending

    def _with_pending(self, ticket: Ticket) -> Ticket:
        """``ticket`` with the uses this process tallied and has not written yet."""
        pending = self._tally.pending_uses(ticket.id)
        return replace(ticket, uses_count=ticket.uses_count + pending) if pending else ticket

    def _nudge(self) -> None:
        if self._indexer is not None:
            self._indexer.nudge()

    def close(self) -> None:
        if self._indexer is not None:
            self._indexer.close()
        self._tally.close()
        self._catalog.close()
        self._storage.close()

    # -- helpers -------------------------------------------------------------------------------------------

    def _visible(self, conn: sqlite3.Connection, actor: Actor, ticket: Ticket) -> bool:
        # Anonymous tickets are visible to owner and admins only: ids are sequential, and listing everyone's
        # public links by walking ids would leak them.
        if policy.can_manage(actor, ticket):
            return True
        return not ticket.anonymous and policy.admits(ticket, actor.name, self._catalog.groups_of(conn, actor.name))

    def _check_groups(self, conn: sqlite3.Connection, groups: Iterable[str]) -> None:
        missing = self._catalog.missing_groups(conn, groups)
        if missing:
            raise InvalidRequest("no such group", details={"field": "groups", "groups": missing})


def _new_ticket_string() -> str:
    return "".join(secrets.choice(_TICKET_ALPHABET) for _ in range(TICKET_STRING_LENGTH))
