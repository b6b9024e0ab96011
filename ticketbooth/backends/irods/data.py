"""Data through one iRODS ticket: the :class:`DataSession` the gateway uses for one request.

The session owns one fresh iRODS session with the ticket supplied (see ``connection.Connector.for_ticket``):
stats, listings and reads go through it, so iRODS applies the ticket (target, expiry, allow-lists) to every
open. Writes and deletes go through a second session proxied as the ticket's *owner*, made when first needed,
because iRODS 5.0.2 lets a write ticket create objects and collections only directly inside the ticket's
collection (``CAT_NO_ACCESS_PERMISSION`` deeper) and makes what it writes belong to the writer, whom the owner
cannot read. TicketBooth has by then checked everything the ticket says (``open_session``), the path
(whole segments, below the target) and the ticket's type; the write limits it enforces through its own counters.
Redirects to other servers are disabled (one connection per session).

When the zone goes away (a network failure, :func:`.errors.is_network_failure`):

- every call answers ``BackendUnavailable``, also a read of a body already streaming (:class:`GuardedReader`);
- the session is *broken*: :meth:`IrodsDataSession.close` closes it instead of parking it for the use window,
  and the connector renews its service session (``on_network_failure``);
- a parked session whose connection died while it waited (the server restarted) fails its first query: that
  query runs once more on a fresh ticket session (``renew_parked``), so the request is served;
- only data objects with a good replica are shown (stat, listings, reads): iRODS keeps what an interrupted write
  had sent as a *stale* replica (observed on 5.0.2), which must not read as the object. A write that failed
  gives its write budget back and removes that partial object, at once or, with the zone unreachable, as soon
  as it answers (``repairs``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from irods.models import Collection, DataObject

from ... import paths, policy
from ...errors import (
    Conflict,
    InvalidPath,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketNotFound,
    TicketUnusable,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from ...model import TargetKind, Ticket
from ...spool import receive
from ..base import DataSession, ObjectInfo, ObjectLayout, ObjectMetadata
from . import genquery, layouts, listing, s3meta
from .catalog import quote_safe
from .connection import TicketSession, create_collection
from .counters import COUNT_FIELDS, Counters, CounterStore, refund_write, reserve_write
from .errors import CAT_TICKET_INVALID, irods_code, is_network_failure, translate
from .listing import GOOD_REPLICA, etag_of, good_rows, md5_of
from .repairs import Repairs

__all__ = ["CHUNK", "GOOD_REPLICA", "GuardedReader", "IrodsDataSession"]

#: Bytes copied per write call when storing a stream.
CHUNK = 1024 * 1024

log = logging.getLogger(__name__)
T = TypeVar("T")


class IrodsDataSession(DataSession):
    """One use of ``ticket`` (see the module docstring).

    ``counters`` holds the write limits; ``owner_session()`` lends the session proxied as the ticket's owner and
    ``owner_back(session, healthy)`` takes it back when the request ends (``None``: it is cleaned up);
    ``service()`` is the admin session for S3 metadata; ``ticket_gone()`` asks the catalog whether the ticket
    has been deleted since the request began (a ticket session sees nothing once it is); ``ordered_names()``
    whether the catalog compares names as S3 orders keys (``genquery.compares_bytewise``); ``repairs`` takes
    what a failed write still owes the zone; ``on_network_failure()`` is told once when the zone is lost;
    ``renew_parked()`` (given for a parked session) makes a fresh ticket session (see :meth:`_on_ticket`);
    ``verify_checksum`` whether iRODS verifies the MD5 of what it stored (else the service account registers it:
    ``irods.verify_checksum``).

    What one request learns about a path (its catalog row and ``s3.*`` AVUs, or that nothing is there) is kept
    for the rest of the request and forgotten by any change made through it: a GET stats the key once for its
    headers, not again to open it.
    """

    def __init__(self, ticket: Ticket, holder: str, handle: TicketSession, counters: CounterStore, *,
                 owner_session: Callable[[], Any], service: Callable[[], Any] | None = None,
                 owner_back: Callable[[Any, bool], None] | None = None,
                 repairs: Repairs | None = None, on_network_failure: Callable[[], Any] | None = None,
                 ticket_gone: Callable[[], bool] | None = None,
                 ordered_names: Callable[[], bool] | None = None,
                 renew_parked: Callable[[], TicketSession] | None = None, verify_checksum: bool = True,
                 batch_ends: listing.BatchEnds | None = None) -> None:
        self.ticket = ticket
        self.holder = holder
        self._handle = handle
        self._session = handle.session
        self._counters = counters
        self._owner_factory = owner_session
        self._owner_back = owner_back
        self._owner: Any = None
        self._failed = False  # an iRODS call of this request failed: its owner session is not lent again
        self._verify_checksum = verify_checksum or service is None
        self._batch_ends = batch_ends  # where listing batches ended, shared by the backend's sessions (listing.py)
        # The admin session for S3 metadata (AVUs, see s3meta); paths are checked against the ticket first.
        self._service = service
        self._repairs = repairs
        self._on_network_failure = on_network_failure
        self.broken = False  # a network failure was seen: close, never park (see the module docstring)
        self._ticket_gone = ticket_gone
        self._ordered_names = ordered_names or (lambda: False)
        self._renew_parked = renew_parked
        self._known: dict[str, ObjectInfo | None] = {}
        self._avus: dict[str, list[tuple[str, str]]] = {}

    # -- helpers ----------------------------------------------------------------------------------------------

    def _check(self, path: str, action: str) -> str:
        path = paths.validate_path(path, self.ticket.path.split("/")[1])
        if not paths.is_within(self.ticket.path, path):
            raise PermissionDenied("path lies outside the ticket's target", details={"path": path})
        if not policy.action_allowed(self.ticket, action):
            raise PermissionDenied(f"a {self.ticket.access} ticket does not allow {action}")
        return quote_safe(path)

    def _translate(self, err: BaseException, path: str) -> TicketBoothError:
        """``err`` mapped (data-path context); a network failure also breaks this session."""
        self._failed = True
        if is_network_failure(err):
            self._broke()
        return translate(err, context="use", path=path)

    def _broke(self) -> None:
        if not self.broken:
            self.broken = True
            if self._on_network_failure is not None:
                self._on_network_failure()

    def _call(self, func: Callable[[], Any], path: str) -> Any:
        try:
            return func()
        except TicketBoothError as err:
            self._failed = True
            if is_network_failure(err):
                self._broke()
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err, path) from err

    def _on_ticket(self, func: Callable[[], T]) -> T:
        """``func()``, which uses the ticket session (``self._session``, read when it runs).

        The first call on a *parked* session (``renew_parked`` given) that fails with a network failure runs once
        more on a fresh ticket session: its connection died while it waited (the server restarted), and nothing
        has been done through it in this request, so nothing is repeated. No stat precedes the request's own
        first query to find that out (it would cost a round trip on every request)."""
        renew, self._renew_parked = self._renew_parked, None
        try:
            return func()
        except TicketBoothError as err:
            if renew is None or not is_network_failure(err):
                raise
        dead, self._handle = self._handle, renew()
        _close_dead(dead)
        self._session = self._handle.session
        self.broken = False
        return func()

    def _through_ticket(self, func: Callable[[], Any], path: str) -> Any:
        """``func`` on the ticket session (see :meth:`_on_ticket`); a refusal that a deleted ticket also gives
        (-890000, "does not exist") is ``TicketNotFound`` when the ticket is gone (so the gateway says
        ``InvalidAccessKeyId``)."""
        try:
            return self._on_ticket(lambda: self._call(func, path))
        except (TicketUnusable, PathNotFound) as err:
            invalid = isinstance(err, PathNotFound) or irods_code(err.__cause__ or err) == CAT_TICKET_INVALID
            if invalid:
                self._unless_gone()
            raise

    def _unless_gone(self) -> None:
        """Raise ``TicketNotFound`` if the ticket has been deleted meanwhile (one catalog query); a catalog that
        cannot say leaves the caller's own error standing."""
        if self._ticket_gone is None:
            return
        try:
            gone = self._ticket_gone()
        except TicketBoothError:
            return
        if gone:
            raise TicketNotFound()

    def _changed(self) -> None:
        """Forget what this request learnt about paths: it has just changed something."""
        self._known.clear()
        self._avus.clear()

    def counted(self, counters: Counters) -> None:
        """Show the caller the ticket as the latest counter change left it."""
        self.ticket = dataclasses.replace(self.ticket, **{name: getattr(counters, name) for name in COUNT_FIELDS})

    def _owner_session(self) -> Any:
        if self._owner is None:
            self._owner = self._call(self._owner_factory, self.ticket.path)
        return self._owner

    def _reserve(self, length: int) -> None:
        """Reserve one write file and ``length`` bytes, atomically (or raise the write-limit error)."""
        self.counted(self._counters.update(self.ticket.id, lambda c: reserve_write(c, length),
                                           initial=Counters.of(self.ticket)))

    def _refund(self, length: int) -> None:
        ticket = self.ticket

        def refund() -> Counters:
            return self._counters.update(ticket.id, lambda c: refund_write(c, length), initial=Counters.of(ticket))

        try:
            self.counted(refund())
        except TicketBoothError as err:  # the store's failure is what the caller must see
            if self._repairs is not None and is_network_failure(err):
                self._repairs.add(f"give back the write budget of a failed write on ticket {ticket.id}", refund)
                return
            log.error("could not give back the write budget of a failed write on ticket %s (%s)",
                      ticket.id, err.code)

    # -- what is at a path --------------------------------------------------------------------------------------

    def _lookup(self, path: str, *, collection_first: bool = False) -> ObjectInfo | None:
        """What is at ``path`` (checked), ``None`` for nothing: one query for its row (data objects first unless
        ``collection_first``; the ticket's own target only as what it is), one more for an object's ``s3.*``
        AVUs. Kept for the rest of the request."""
        if path in self._known:
            return self._known[path]
        if self.ticket.target_kind is TargetKind.DATA_OBJECT:
            info = self._object(path)
        elif path == self.ticket.path:
            info = self._collection(path)
        elif collection_first:
            info = self._collection(path) or self._object(path)
        else:
            info = self._object(path) or self._collection(path)
        self._known[path] = info
        return info

    def _object_row(self, path: str) -> dict[Any, Any] | None:
        """The catalog row of the data object ``path`` (one query), ``None`` when it has no good replica: only
        a complete replica is the object (what an interrupted write left, or one still being written, is not)."""
        found = good_rows(self._through_ticket(lambda: genquery.rows(self._session.query(
            DataObject.size, DataObject.modify_time, DataObject.checksum, DataObject.replica_number,
            DataObject.replica_status).filter(Collection.name == paths.parent(path),
                                              DataObject.name == paths.basename(path))), path))
        # One row per replica: the lowest-numbered good one describes the object.
        return min(found, key=lambda r: int(r.get(DataObject.replica_number) or 0)) if found else None

    def _object(self, path: str) -> ObjectInfo | None:
        row = self._object_row(path)
        if row is None:
            return None
        size, modified = int(row[DataObject.size] or 0), row.get(DataObject.modify_time)
        avus = self._object_avus(path)
        layout = None
        if modified is not None:
            layout = layouts.decode(dict(avus).get(layouts.LAYOUT), size, int(modified.timestamp()))
        return ObjectInfo(path=path, is_collection=False, size=size, modified_at=modified,
                          etag=layout.etag if layout else etag_of(row.get(DataObject.checksum), size, modified),
                          metadata=s3meta.from_avus(avus), layout=layout)

    def _object_avus(self, path: str) -> list[tuple[str, str]]:
        """The ``s3.*`` AVUs of the data object ``path`` (the layout among them), one query on the admin session."""
        if self._service is None:
            return []
        if path not in self._avus:
            self._avus[path] = self._call(lambda: s3meta.object_avus(self._service(), path), path)  # type: ignore[misc]
        return self._avus[path]

    def _collection(self, path: str) -> ObjectInfo | None:
        found = self._through_ticket(lambda: genquery.rows(self._session.query(
            Collection.name, Collection.modify_time).filter(Collection.name == path)), path)
        if not found:
            return None
        return ObjectInfo(path=path, is_collection=True, modified_at=found[0].get(Collection.modify_time))

    # -- DataSession ------------------------------------------------------------------------------------------

    def stat(self, path: str) -> ObjectInfo:
        path = self._check(path, "stat")
        info = self._lookup(path)
        if info is None:
            self._unless_gone()
            raise PathNotFound(details={"path": path})
        return info

    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        if self.ticket.target_kind is TargetKind.DATA_OBJECT and collection == paths.parent(self.ticket.path):
            # A data-object ticket's "bucket" holds exactly its object.
            info = self.stat(self.ticket.path)
            if start_after is None or paths.listing_key(info.path, False) > paths.listing_key(start_after, False):
                yield info
            return
        collection = self._check(collection, "list")
        # The ticket's own collection was found with the ticket's row (Catalog.current): no query for it.
        found = ObjectInfo(collection, True) if collection == self.ticket.path else self._lookup(
            collection, collection_first=True)
        if found is None or not found.is_collection:
            if found is None:
                self._unless_gone()
            raise PathNotFound("not a collection", details={"path": collection})
        after = None if start_after is None else paths.listing_key(start_after, False)
        if (start_after is not None and after is not None and start_after != collection
                and not start_after.endswith("/") and paths.is_within(collection, start_after)):
            # A collection's own S3 key ends with "/": naming it resumes after "<name>/", past "<name>.txt".
            with contextlib.suppress(TicketBoothError):
                named = self._check(start_after, "list")
                if (self._lookup(named, collection_first=True) or ObjectInfo(named, False)).is_collection:
                    after += b"/"
        yield from self._walk(collection, recursive, after)

    def _entries(self, collection: str, after: bytes | None) -> Iterator[tuple[bytes, ObjectInfo]]:
        """The entries directly in ``collection`` in key order, from near ``after`` (see ``listing``); the
        first batch is read here, through :meth:`_on_ticket`."""

        def first() -> tuple[Iterator[tuple[bytes, ObjectInfo]], tuple[bytes, ObjectInfo] | None]:
            entries = listing.children(self._session, self._service, collection, after,
                                       ordered=self._ordered_names(), skipped=_skipped, ends=self._batch_ends)
            return entries, self._call(lambda: next(entries, None), collection)

        entries, head = self._on_ticket(first)
        if head is None:
            return
        yield head
        try:
            yield from entries
        except Exception as err:  # noqa: BLE001 - mapped
            mapped = self._translate(err, collection)
            if mapped is err:
                raise
            raise mapped from err

    def _walk(self, collection: str, recursive: bool, after: bytes | None) -> Iterator[ObjectInfo]:
        for key, info in self._entries(collection, after):
            if info.is_collection:
                if after is not None and key < after and not after.startswith(key):
                    continue  # the whole subtree sorts before start_after
                if recursive:
                    below = self._walk(info.path, True, after)
                    first = next(below, None)
                    if first is not None:
                        yield first
                        yield from below
                    elif after is None or key > after:
                        # Nothing below that sorts after start_after, and the collection itself does: it is
                        # empty (S3's folder marker "<name>/").
                        yield info
                    continue
                if after is not None and key <= after:
                    continue
                yield info
            elif after is None or key > after:
                yield info

    def _holds_anything(self, collection: str) -> bool:
        """Whether ``collection`` holds a data object or a collection (at most one row of each query)."""
        objects = self._session.query(DataObject.name).filter(Collection.name == collection)
        if self._call(lambda: genquery.first_rows(objects, 1), collection):
            return True
        subs = self._session.query(Collection.name).filter(Collection.parent_name == collection)
        return any(row[Collection.name] != collection
                   for row in self._call(lambda: genquery.first_rows(subs, 2), collection))

    def open_read(self, path: str) -> BinaryIO:
        path = self._check(path, "read")
        info = self._lookup(path)
        if info is None or info.is_collection:
            if info is None:
                self._unless_gone()
            raise PathNotFound("not a data object", details={"path": path})
        handle = self._through_ticket(lambda: self._session.data_objects.open(path, "r", allow_redirect=False), path)
        return GuardedReader(_ObjectReader(handle), lambda err: self._translate(err, path))  # type: ignore[return-value]

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None,
              metadata: ObjectMetadata | None = None) -> ObjectInfo:
        """Spool ``stream`` locally, reserve the write budget, then store it as the ticket's owner.

        iRODS truncates a replaced object when it is opened, so a stream that fails (or turns out too long for the
        write-byte limit) must fail before that: it is read to its end into the spool first. The budget (one
        write file, the spooled size) is then reserved atomically in TicketBooth's counters, so concurrent writes
        can never exceed a limit together; a store that fails gives the reservation back.
        """
        path = self._check(path, "write")
        if self.ticket.target_kind is TargetKind.DATA_OBJECT and path != self.ticket.path:
            raise PermissionDenied("a data-object ticket writes only its object", details={"path": path})
        remaining = self._write_budget(size)
        before = self._check_no_conflict(path)
        # An unnamed temporary file: nothing of a body that fails (or runs over the budget) is seen anywhere.
        with tempfile.TemporaryFile() as spool:
            received = receive(stream, spool.fileno(), size=None, max_bytes=remaining, sync=False,
                               too_big=lambda: TicketWriteBytesExceeded(details={"path": path}))
            spool.seek(0)
            self._reserve(received.size)
            try:
                self._store(path, spool, received.md5)
            except BaseException:
                self._refund(received.size)
                raise
        current = self._avus.get(path, []) if before is not None else []
        self._changed()
        if before is not None or metadata:
            self._set_metadata(path, metadata, current)
        return self._written(path, metadata)

    def _written(self, path: str, metadata: ObjectMetadata | None) -> ObjectInfo:
        """The object just stored with ``metadata``: its row (one query); its ``s3.*`` AVUs are what the write set."""
        row = self._object_row(path)
        if row is None:
            raise PathNotFound(details={"path": path})  # removed again at once, from outside
        avus = sorted(s3meta.to_avus(metadata).items())
        size, modified = int(row[DataObject.size] or 0), row.get(DataObject.modify_time)
        info = ObjectInfo(path=path, is_collection=False, size=size, modified_at=modified,
                          etag=etag_of(row.get(DataObject.checksum), size, modified), metadata=s3meta.from_avus(avus))
        self._known[path], self._avus[path] = info, avus
        return info

    def _store(self, path: str, spool: BinaryIO, md5: str) -> None:
        from irods import keywords as kw

        owner = self._owner_session()
        self._make_parents(path)
        # The MD5 is registered as the object's checksum, so it is the S3 ETag later: verified by the server (it
        # reads the object back), or registered by the service account as computed over the bytes sent.
        verify = {kw.VERIFY_CHKSUM_KW: md5} if self._verify_checksum else {}
        handle = self._call(lambda: owner.data_objects.open(path, "w", allow_redirect=False, **verify), path)
        try:
            self._call(lambda: shutil.copyfileobj(spool, handle, CHUNK), path)
            self._call(handle.close, path)
            if not verify:
                # Should this fail, the object stays, complete, with no MD5 (and the provisional ETag): only an
                # incomplete replica is removed below.
                self._call(lambda: self._service().data_objects.modDataObjMeta(  # type: ignore[misc]
                    {"objPath": path}, {kw.CHKSUM_KW: md5, kw.ADMIN_KW: ""}), path)
        except BaseException:
            # iRODS already truncated or created the object: a partial object is worse than none (and reads as
            # none meanwhile: it has no good replica).
            with contextlib.suppress(Exception):
                handle.close()
            self._remove_partial(path)
            raise

    def _remove_partial(self, path: str) -> None:
        """Unlink what a failed write left at ``path`` — unless a later write has made it good meanwhile; queued
        (``repairs``) when the zone cannot be reached now."""
        owner_factory, owner_back = self._owner_factory, self._owner_back

        def remove() -> None:
            from irods.exception import DataObjectDoesNotExist

            # A kept owner session (or a new one), not this request's: this may run later, from the repairs.
            owner = owner_factory()
            healthy = False
            try:
                try:
                    obj = owner.data_objects.get(path)
                except DataObjectDoesNotExist:
                    healthy = True
                    return
                if _good_replica(obj) is None:
                    owner.data_objects.unlink(path, force=True)
                healthy = True
            finally:
                if owner_back is not None:
                    owner_back(owner, healthy)
                else:
                    with contextlib.suppress(Exception):
                        owner.cleanup()

        try:
            remove()
        except Exception as err:  # noqa: BLE001 - the write's own failure is what the caller sees
            if self._repairs is not None and is_network_failure(err):
                self._repairs.add(f"remove the partial object a failed write left at {path}", remove)
            else:
                log.error("could not remove the partial object a failed write left at %s (%s)", path,
                          type(err).__name__)

    def _set_metadata(self, path: str, metadata: ObjectMetadata | None,
                      current: list[tuple[str, str]] | None = None) -> None:
        if self._service is not None:
            self._call(lambda: s3meta.replace_object(self._service(), path, metadata, current),  # type: ignore[misc]
                       path)

    def _missing_parents(self, path: str) -> list[str]:
        """The collections between the ticket's target and ``path`` that do not exist yet, outermost first."""
        missing = []
        ancestor = paths.parent(path)
        while ancestor != self.ticket.path and paths.is_within(self.ticket.path, ancestor):
            if self._lookup(ancestor, collection_first=True) is not None:
                break
            missing.append(ancestor)
            ancestor = paths.parent(ancestor)
        return missing[::-1]

    def _make_parents(self, path: str) -> None:
        """Create the missing parents of ``path`` and mark them ``s3.implicit`` (see :meth:`delete`).

        One level at a time, outermost first, each without ``recurse``: iRODS 5.0.2 answers a recursive
        ``COLL_CREATE`` that races with another one for the same parents (rclone's parallel uploads into a new
        folder) with success, yet creates nothing. One that another writer has just created is what we wanted.
        """
        missing = self._missing_parents(path)
        if not missing:
            return
        owner = self._owner_session()
        self._changed()
        for collection in missing:
            self._call(lambda c=collection: _create_collection(owner, c), collection)
        if self._service is not None:
            for collection in missing:
                self._call(lambda c=collection: s3meta.mark_implicit(self._service(), c), collection)  # type: ignore[misc]

    def copy(self, source: str, path: str, *, metadata: ObjectMetadata | None = None) -> ObjectInfo:
        """A server-side data object copy (``DATA_OBJ_COPY``): the bytes never leave the zone."""
        source = self._check(source, "read")
        path = self._check(path, "write")
        if self.ticket.target_kind is TargetKind.DATA_OBJECT and path != self.ticket.path:
            raise PermissionDenied("a data-object ticket writes only its object", details={"path": path})
        info = self.stat(source)
        if info.is_collection:
            raise PathNotFound("not a data object", details={"path": source})
        kept = info.metadata if metadata is None else metadata
        if source == path:  # a copy onto itself changes only the metadata (rclone's mtime repair)
            current = self._avus.get(path)
            self._changed()
            self._set_metadata(path, kept, current)
            return self.stat(path)
        self._write_budget(info.size)
        before = self._check_no_conflict(path)
        self._reserve(info.size)
        try:
            self._make_parents(path)
            from irods.keywords import FORCE_FLAG_KW, VERIFY_CHKSUM_KW

            owner = self._owner_session()
            # The zone checksums the copy as it checksummed the source (an MD5 stays an MD5, so the copy has an
            # ETag); iRODS copies no checksum by itself. The bytes are read inside the zone, not here.
            self._call(lambda: owner.data_objects.copy(source, path, **{FORCE_FLAG_KW: "", VERIFY_CHKSUM_KW: ""}),
                       path)
        except BaseException as err:
            if is_network_failure(err):  # the server may have begun the copy: leave no partial object behind
                self._remove_partial(path)
            self._refund(info.size)
            raise
        current = self._avus.get(path, []) if before is not None else []
        self._changed()
        self._set_metadata(path, kept, current)
        return self.stat(path)

    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        path = self._check(path, "write")
        if self._service is None:
            return False
        info = self.stat(path)
        if info.is_collection or info.size != layout.size or info.modified_at is None:
            return False
        known = info.layout.md5 if info.layout else md5_of(info.etag)  # the registered MD5, where iRODS keeps one
        if known is not None and known != layout.md5:
            return False
        text = layouts.encode(layout, int(info.modified_at.timestamp()))
        if text is None:
            return False
        self._call(lambda: layouts.write(self._service(), path, text), path)  # type: ignore[misc]
        self._changed()
        return True

    def _check_no_conflict(self, path: str) -> ObjectInfo | None:
        """What is at ``path`` now (``None``: nothing); ``Conflict`` when that is a collection, or when a data
        object is where a parent collection must be."""
        found = self._lookup(path)
        if found is not None and found.is_collection:
            raise Conflict("a collection exists at that path", details={"path": path})
        ancestor = paths.parent(path)
        while ancestor != self.ticket.path and paths.is_within(self.ticket.path, ancestor):
            above = self._lookup(ancestor, collection_first=True)
            if above is not None:
                if not above.is_collection:
                    raise Conflict("a data object is where a parent collection would be", details={"path": ancestor})
                break
            ancestor = paths.parent(ancestor)
        return found

    def _write_budget(self, size: int | None) -> int | None:
        """Refuse before spooling when a write limit is already reached; the bytes still allowed (a first check:
        the reservation after spooling is the one that holds under concurrency). A ticket without write limits
        (as this request judged it) needs no early check."""
        if not (self.ticket.write_file_limit or self.ticket.write_byte_limit):
            return None
        current = self._counters.read([self.ticket.id]).get(self.ticket.id) or Counters.of(self.ticket)
        if current.write_file_limit and current.write_file_count >= current.write_file_limit:
            raise TicketWriteFilesExceeded()
        if not current.write_byte_limit:
            return None
        remaining = max(current.write_byte_limit - current.write_byte_count, 0)
        if size is not None and size > remaining:
            raise TicketWriteBytesExceeded()
        return remaining

    def delete(self, path: str) -> None:
        path = self._check(path, "delete")
        if self.stat(path).is_collection:
            raise PathNotFound("not a data object", details={"path": path})
        owner = self._owner_session()
        self._changed()
        self._call(lambda: owner.data_objects.unlink(path, force=True), path)
        self._prune(paths.parent(path))

    def _prune(self, collection: str) -> None:
        """Remove ``collection`` and its parents while each is ``s3.implicit``, empty and below the target."""
        while self._service is not None and collection != self.ticket.path and paths.is_within(
                self.ticket.path, collection):
            if not self._call(lambda c=collection: s3meta.is_implicit(self._service(), c), collection):  # type: ignore[misc]
                return
            if self._holds_anything(collection):
                return
            try:
                owner = self._owner_session()
                self._call(lambda c=collection, o=owner: o.collections.remove(c, recurse=False, force=True),
                           collection)
            except TicketBoothError:
                return  # somebody put something there meanwhile, or iRODS refused: keep it
            collection = paths.parent(collection)

    def make_collection(self, path: str) -> ObjectInfo:
        path = self._check(path, "write")
        if self.ticket.target_kind is TargetKind.DATA_OBJECT:
            raise PermissionDenied("a data-object ticket holds no collections", details={"path": path})
        found = self._lookup(path, collection_first=True)
        if found is not None and not found.is_collection:
            raise Conflict("a data object exists at that path", details={"path": path})
        self._check_no_conflict(path + "/x")
        missing = self._missing_parents(path + "/x")
        self._changed()
        if missing:
            owner = self._owner_session()
            self._call(lambda: owner.collections.create(path, recurse=True), path)
        if self._service is not None:
            for collection in missing[:-1]:
                self._call(lambda c=collection: s3meta.mark_implicit(self._service(), c), collection)  # type: ignore[misc]
            if not missing:  # it was there: explicit from now on
                self._call(lambda: s3meta.mark_implicit(self._service(), path, False), path)  # type: ignore[misc]
        return self.stat(path)

    def remove_collection(self, path: str) -> None:
        path = self._check(path, "delete")
        if path == self.ticket.path:
            raise PermissionDenied("the ticket's target itself is never removed", details={"path": path})
        found = self._lookup(path, collection_first=True)
        if found is None or not found.is_collection:
            if found is None:
                self._unless_gone()
            raise PathNotFound("not a collection", details={"path": path})
        if self._holds_anything(path):
            raise Conflict("the collection is not empty", details={"path": path})
        owner = self._owner_session()
        self._changed()
        self._call(lambda: owner.collections.remove(path, recurse=False, force=True), path)
        self._prune(paths.parent(path))

    def close(self) -> None:
        """End the request: a healthy session is parked for the use window (or closed), a broken one closed."""
        self._end(park=not self.broken)

    def discard(self) -> None:
        """End the request and really close its sessions (after a failure: never parked for the next request)."""
        self._end(park=False)

    def _end(self, *, park: bool) -> None:
        owner, self._owner = self._owner, None
        try:
            if owner is not None:
                if self._owner_back is not None:
                    self._owner_back(owner, park and not self._failed)
                else:
                    with contextlib.suppress(Exception):
                        owner.cleanup()
        finally:
            discard = None if park else getattr(self._handle, "discard", None)
            if callable(discard):
                discard()
            else:
                self._handle.close()


def _close_dead(handle: TicketSession) -> None:
    """Close a ticket session whose connection died: really, never parked (``LentSession.discard``)."""
    discard = getattr(handle, "discard", None)
    with contextlib.suppress(Exception):
        discard() if callable(discard) else handle.close()


def _good_replica(obj: Any) -> Any:
    """The lowest-numbered good replica of a python-irodsclient data object, or ``None``."""
    good = [r for r in getattr(obj, "replicas", ()) if str(r.status) == GOOD_REPLICA]
    return min(good, key=lambda r: int(r.number)) if good else None


class GuardedReader(io.RawIOBase):
    """A data object opened for reading whose failures are TicketBooth errors (``translate(err)``), also once the
    body is streaming; closing a handle whose connection died is not an error (nothing is left to close)."""

    def __init__(self, raw: Any, translate_error: Callable[[BaseException], TicketBoothError]) -> None:
        super().__init__()
        self._raw = raw
        self._translate = translate_error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._raw.read(-1 if size is None else size)  # type: ignore[no-any-return]
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err) from err

    def readinto(self, buffer: Any) -> int:
        try:
            return self._raw.readinto(buffer)  # type: ignore[no-any-return]
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err) from err

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        try:
            return self._raw.seek(offset, whence)  # type: ignore[no-any-return]
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err) from err

    def tell(self) -> int:
        return self._raw.tell()  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._raw.close()
        except Exception as err:  # noqa: BLE001 - a dead connection has nothing left to close
            self._translate(err)  # marks the session broken
        finally:
            super().close()


class _ObjectReader(io.RawIOBase):
    """A data object opened for reading, read straight from python-irodsclient's raw file.

    Its own ``open`` wraps the raw file in an 8 KiB ``BufferedRandom``, which asks the server for the position
    before its first read and when it is closed (two more ``DATA_OBJ_LSEEK`` round trips per request; detaching
    it would flush and ask too); the gateway reads 1 MiB at a time and seeks only for a range, so the buffer
    saves nothing. The buffer object is kept, unused, so that its finalizer finds the raw file closed."""

    def __init__(self, handle: Any) -> None:
        super().__init__()
        self._buffered = handle
        self._raw = getattr(handle, "raw", handle)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._raw.readinto(buffer)  # type: ignore[no-any-return]

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


def _create_collection(session: Any, collection: str) -> None:
    """Create ``collection`` (its parent exists); one that exists already, made by a concurrent writer, will do."""
    from irods.exception import CAT_NAME_EXISTS_AS_COLLECTION, CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME

    try:
        create_collection(session, collection)
    except (CAT_NAME_EXISTS_AS_COLLECTION, CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME):
        if not session.collections.exists(collection):
            raise  # a data object has that name


def _skipped(collection: str, err: InvalidPath) -> None:
    # iRODS allows names S3 keys cannot carry (control characters, over 1,024 bytes joined): such an entry is
    # left out of the listing, as the embedded backend does, rather than failing the whole listing.
    log.warning("listing %s: skipped an entry whose name is not a valid key (%s)", collection, err.message)
