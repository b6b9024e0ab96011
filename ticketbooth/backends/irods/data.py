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
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

from irods.models import Collection, DataObject

from ... import paths, policy
from ...errors import (
    Conflict,
    InvalidPath,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from ...model import TargetKind, Ticket
from ...spool import receive
from ..base import DataSession, ObjectInfo, ObjectLayout, ObjectMetadata, provisional_etag
from . import layouts, s3meta
from .catalog import quote_safe
from .connection import TicketSession
from .counters import COUNT_FIELDS, Counters, CounterStore, refund_write, reserve_write
from .errors import is_network_failure, translate
from .repairs import Repairs

__all__ = ["CHUNK", "GOOD_REPLICA", "GuardedReader", "IrodsDataSession"]

#: Bytes copied per write call when storing a stream.
CHUNK = 1024 * 1024
#: ``DataObject.replica_status`` of a replica whose content is complete (0 stale, 2 being written, 3/4 locked).
GOOD_REPLICA = "1"
_MD5 = re.compile(r"^[0-9a-f]{32}$")

log = logging.getLogger(__name__)


def _md5(checksum: object) -> str | None:
    """iRODS keeps 'sha2:<base64>' or a bare hex MD5; only the latter is the content's MD5."""
    return checksum if isinstance(checksum, str) and _MD5.match(checksum) else None


def _etag(checksum: object, size: int, modified: datetime | None) -> str | None:
    """The S3 ETag of a data object from what a stat or listing row holds: its MD5 checksum, else (no checksum,
    or iRODS's SHA-256) the provisional ETag of its modify time and size. iRODS keeps modify times to the second,
    so an object rewritten past TicketBooth with the same size within one second keeps it (writes through
    TicketBooth register the MD5)."""
    md5 = _md5(checksum)
    if md5 is not None or modified is None:
        return md5
    return provisional_etag(size, int(modified.timestamp()) * 1_000_000_000)


class IrodsDataSession(DataSession):
    """One use of ``ticket`` (see the module docstring).

    ``counters`` holds the write limits; ``owner_session()`` makes the session proxied as the ticket's owner.
    """

    def __init__(self, ticket: Ticket, holder: str, handle: TicketSession, counters: CounterStore, *,
                 owner_session: Callable[[], Any], service: Callable[[], Any] | None = None,
                 repairs: Repairs | None = None, on_network_failure: Callable[[], Any] | None = None) -> None:
        self.ticket = ticket
        self.holder = holder
        self._handle = handle
        self._session = handle.session
        self._counters = counters
        self._owner_factory = owner_session
        self._owner: Any = None
        # The admin session for S3 metadata (AVUs, see s3meta); paths are checked against the ticket first.
        self._service = service
        self._repairs = repairs
        self._on_network_failure = on_network_failure
        self.broken = False  # a network failure was seen: close, never park (see the module docstring)

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
            if is_network_failure(err):
                self._broke()
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err, path) from err

    def touch(self) -> None:
        """Stat the target once through the ticket: a ticket or target gone since the catalog read shows here."""
        self.stat(self.ticket.path)

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

    # -- DataSession ------------------------------------------------------------------------------------------

    def stat(self, path: str) -> ObjectInfo:
        path = self._check(path, "stat")
        from irods.exception import CollectionDoesNotExist, DataObjectDoesNotExist

        if self.ticket.target_kind is not TargetKind.DATA_OBJECT:
            try:
                coll = self._session.collections.get(path)
                return ObjectInfo(path=path, is_collection=True, modified_at=getattr(coll, "modify_time", None))
            except CollectionDoesNotExist:
                pass
            except Exception as err:  # noqa: BLE001 - mapped
                raise self._translate(err, path) from err
        try:
            obj = self._session.data_objects.get(path)
        except (DataObjectDoesNotExist, CollectionDoesNotExist):
            raise PathNotFound(details={"path": path}) from None
        except Exception as err:  # noqa: BLE001 - mapped
            raise self._translate(err, path) from err
        replica = _good_replica(obj)
        if replica is None:  # what an interrupted write left, or one still being written
            raise PathNotFound(details={"path": path})
        size = int(replica.size or 0)
        layout = self._layout(path, size, replica.modify_time)
        return ObjectInfo(path=path, is_collection=False, size=size, modified_at=replica.modify_time,
                          etag=layout.etag if layout else _etag(replica.checksum, size, replica.modify_time),
                          metadata=self._metadata(path), layout=layout)

    def _metadata(self, path: str) -> ObjectMetadata:
        if self._service is None:
            return ObjectMetadata()
        return self._call(lambda: s3meta.read_object(self._service(), path), path)  # type: ignore[misc]

    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        if self.ticket.target_kind is TargetKind.DATA_OBJECT and collection == paths.parent(self.ticket.path):
            # A data-object ticket's "bucket" holds exactly its object.
            info = self.stat(self.ticket.path)
            if start_after is None or paths.listing_key(info.path, False) > paths.listing_key(start_after, False):
                yield info
            return
        collection = self._check(collection, "list")
        if not self.stat(collection).is_collection:
            raise PathNotFound("not a collection", details={"path": collection})
        after = None if start_after is None else paths.listing_key(start_after, False)
        if start_after is not None and start_after != collection and paths.is_within(collection, start_after):
            # A collection's own S3 key ends with "/": naming it resumes after "<name>/", past "<name>.txt".
            with contextlib.suppress(TicketBoothError):
                if self.stat(start_after).is_collection:
                    after += b"/"
        yield from self._walk(collection, recursive, after)

    def _children(self, collection: str, *, kept_etags: bool = True) -> list[tuple[bytes, ObjectInfo]]:
        """The entries directly in ``collection`` by listing key; ``kept_etags`` answers each object's kept layout
        ETag (one more query; callers that only ask whether anything is there skip it)."""
        entries: dict[bytes, ObjectInfo] = {}
        objects = self._session.query(DataObject.name, DataObject.size, DataObject.modify_time, DataObject.checksum,
                                      DataObject.replica_status)
        rows = [row for row in
                self._call(lambda: list(objects.filter(Collection.name == collection).get_results()), collection)
                if str(row.get(DataObject.replica_status)) == GOOD_REPLICA]
        kept = self._collection_layouts(collection) if rows and kept_etags else {}
        for row in rows:
            try:
                path = paths.join(collection, row[DataObject.name])
            except InvalidPath as err:
                _skipped(collection, err)
                continue
            key = paths.listing_key(path, False)
            if key in entries:
                continue  # one row per good replica: the first one describes the object
            size, modified = int(row[DataObject.size] or 0), row.get(DataObject.modify_time)
            layout = None if modified is None else layouts.decode(kept.get(row[DataObject.name]), size,
                                                                  int(modified.timestamp()))
            entries[key] = ObjectInfo(path=path, is_collection=False, size=size, modified_at=modified,
                                      etag=layout.etag if layout else _etag(row.get(DataObject.checksum), size,
                                                                            modified))
        subs = self._session.query(Collection.name, Collection.modify_time)
        for row in self._call(lambda: list(subs.filter(Collection.parent_name == collection).get_results()), collection):
            name = row[Collection.name]
            if name == collection or not paths.is_within(collection, name):
                continue
            try:
                paths.join(collection, paths.basename(name))
            except InvalidPath as err:
                _skipped(collection, err)
                continue
            entries[paths.listing_key(name, True)] = ObjectInfo(path=name, is_collection=True,
                                                     modified_at=row.get(Collection.modify_time))
        return sorted(entries.items())

    def _walk(self, collection: str, recursive: bool, after: bytes | None,
              children: list[tuple[bytes, ObjectInfo]] | None = None) -> Iterator[ObjectInfo]:
        for key, info in self._children(collection) if children is None else children:
            if info.is_collection:
                if after is not None and key < after and not after.startswith(key):
                    continue  # the whole subtree sorts before start_after
                if recursive:
                    below = self._children(info.path)
                    if below:
                        yield from self._walk(info.path, True, after, below)
                    elif after is None or key > after:
                        yield info  # an empty collection: S3's folder marker "<name>/"
                    continue
                if after is not None and key <= after:
                    continue
                yield info
            elif after is None or key > after:
                yield info

    def open_read(self, path: str) -> BinaryIO:
        path = self._check(path, "read")
        if self.stat(path).is_collection:
            raise PathNotFound("not a data object", details={"path": path})
        stream = self._call(lambda: self._session.data_objects.open(path, "r", allow_redirect=False), path)
        return GuardedReader(stream, lambda err: self._translate(err, path))  # type: ignore[return-value]

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
        self._check_no_conflict(path)
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
        self._set_metadata(path, metadata)
        return self.stat(path)

    def _store(self, path: str, spool: BinaryIO, md5: str) -> None:
        from irods import keywords as kw

        owner = self._owner_session()
        self._make_parents(path)
        # The MD5 is registered as the object's checksum (and verified by the server), so it is the S3 ETag later.
        handle = self._call(lambda: owner.data_objects.open(path, "w", allow_redirect=False,
                                                            **{kw.VERIFY_CHKSUM_KW: md5}), path)
        try:
            self._call(lambda: shutil.copyfileobj(spool, handle, CHUNK), path)
            self._call(handle.close, path)
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
        owner_factory = self._owner_factory

        def remove() -> None:
            from irods.exception import DataObjectDoesNotExist

            owner = owner_factory()
            try:
                try:
                    obj = owner.data_objects.get(path)
                except DataObjectDoesNotExist:
                    return
                if _good_replica(obj) is None:
                    owner.data_objects.unlink(path, force=True)
            finally:
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

    def _set_metadata(self, path: str, metadata: ObjectMetadata | None) -> None:
        if self._service is not None:
            self._call(lambda: s3meta.replace_object(self._service(), path, metadata), path)  # type: ignore[misc]

    def _missing_parents(self, path: str) -> list[str]:
        """The collections between the ticket's target and ``path`` that do not exist yet, outermost first."""
        missing = []
        ancestor = paths.parent(path)
        while ancestor != self.ticket.path and paths.is_within(self.ticket.path, ancestor):
            try:
                self.stat(ancestor)
                break
            except PathNotFound:
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
            self._set_metadata(path, kept)
            return self.stat(path)
        self._write_budget(info.size)
        self._check_no_conflict(path)
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
        self._set_metadata(path, kept)
        return self.stat(path)

    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        path = self._check(path, "write")
        if self._service is None:
            return False
        info = self.stat(path)
        if info.is_collection or info.size != layout.size or info.modified_at is None:
            return False
        known = info.layout.md5 if info.layout else _md5(info.etag)  # the registered MD5, where iRODS keeps one
        if known is not None and known != layout.md5:
            return False
        text = layouts.encode(layout, int(info.modified_at.timestamp()))
        if text is None:
            return False
        self._call(lambda: layouts.write(self._service(), path, text), path)  # type: ignore[misc]
        return True

    def _layout(self, path: str, size: int, modified: Any) -> ObjectLayout | None:
        if self._service is None or modified is None:
            return None
        text = self._call(lambda: layouts.read(self._service(), path), path)  # type: ignore[misc]
        return layouts.decode(text, size, int(modified.timestamp()))

    def _collection_layouts(self, collection: str) -> dict[str, str]:
        """The ``s3.layout`` values in ``collection`` by object name (one query; see ``layouts.read_collection``)."""
        if self._service is None:
            return {}
        return self._call(lambda: layouts.read_collection(self._service(), collection), collection)  # type: ignore[misc]

    def _check_no_conflict(self, path: str) -> None:
        """``Conflict`` when a collection is at ``path`` or a data object where a parent collection must be."""
        with contextlib.suppress(PathNotFound):
            if self.stat(path).is_collection:
                raise Conflict("a collection exists at that path", details={"path": path})
        ancestor = paths.parent(path)
        while ancestor != self.ticket.path and paths.is_within(self.ticket.path, ancestor):
            try:
                if not self.stat(ancestor).is_collection:
                    raise Conflict("a data object is where a parent collection would be", details={"path": ancestor})
                return
            except PathNotFound:
                ancestor = paths.parent(ancestor)

    def _write_budget(self, size: int | None) -> int | None:
        """Refuse before spooling when a write limit is already reached; the bytes still allowed (a first check:
        the reservation after spooling is the one that holds under concurrency)."""
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
        self._call(lambda: owner.data_objects.unlink(path, force=True), path)
        self._prune(paths.parent(path))

    def _prune(self, collection: str) -> None:
        """Remove ``collection`` and its parents while each is ``s3.implicit``, empty and below the target."""
        while self._service is not None and collection != self.ticket.path and paths.is_within(
                self.ticket.path, collection):
            if not self._call(lambda c=collection: s3meta.is_implicit(self._service(), c), collection):  # type: ignore[misc]
                return
            if self._children(collection, kept_etags=False):
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
        with contextlib.suppress(PathNotFound):
            if not self.stat(path).is_collection:
                raise Conflict("a data object exists at that path", details={"path": path})
        self._check_no_conflict(path + "/x")
        missing = self._missing_parents(path + "/x")
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
        if not self.stat(path).is_collection:
            raise PathNotFound("not a collection", details={"path": path})
        if self._children(path, kept_etags=False):
            raise Conflict("the collection is not empty", details={"path": path})
        owner = self._owner_session()
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
                with contextlib.suppress(Exception):
                    owner.cleanup()
        finally:
            discard = None if park else getattr(self._handle, "discard", None)
            if callable(discard):
                discard()
            else:
                self._handle.close()


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
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

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


def _create_collection(session: Any, collection: str) -> None:
    """Create ``collection`` (its parent exists); one that exists already, made by a concurrent writer, will do."""
    from irods.exception import CAT_NAME_EXISTS_AS_COLLECTION, CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME

    try:
        session.collections.create(collection, recurse=False)
    except (CAT_NAME_EXISTS_AS_COLLECTION, CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME):
        if not session.collections.exists(collection):
            raise  # a data object has that name


def _skipped(collection: str, err: InvalidPath) -> None:
    # iRODS allows names S3 keys cannot carry (control characters, over 1,024 bytes joined): such an entry is
    # left out of the listing, as the embedded backend does, rather than failing the whole listing.
    log.warning("listing %s: skipped an entry whose name is not a valid key (%s)", collection, err.message)
