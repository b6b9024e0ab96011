"""Data through one iRODS ticket: the :class:`DataSession` the gateway uses for one request.

The session owns one fresh iRODS session with the ticket supplied (see ``connection.Connector.for_ticket``).
Operations run one after another on its single pooled connection, so iRODS counts one use for the whole
session; a stream from :meth:`open_read` holds that connection until it is closed, and an operation started
while it is open would make python-irodsclient open a second connection (a second iRODS use). Redirects to other
servers are disabled for the same reason.

Every path is checked on whole segments against the ticket's target before iRODS sees it.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from irods.models import Collection, DataObject

from ... import paths, policy
from ...errors import (
    Conflict,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from ...model import TargetKind, Ticket
from ..base import DataSession, ObjectInfo, ObjectLayout, ObjectMetadata
from . import s3meta
from .catalog import quote_safe
from .connection import TicketSession
from .errors import translate

__all__ = ["CHUNK", "SPOOL_MEMORY", "IrodsDataSession"]

#: Bytes copied per write call when storing a stream.
CHUNK = 1024 * 1024
#: Bytes of a spooled upload kept in memory before it moves to a temporary file.
SPOOL_MEMORY = 8 * CHUNK
_MD5 = re.compile(r"^[0-9a-f]{32}$")


def _etag(checksum: object) -> str | None:
    """iRODS keeps 'sha2:<base64>' or a bare hex MD5; only the latter is an S3 ETag."""
    return checksum if isinstance(checksum, str) and _MD5.match(checksum) else None


class IrodsDataSession(DataSession):
    """One use of ``ticket`` (see the module docstring). ``lookup`` re-reads the ticket for write limits."""

    def __init__(
        self, ticket: Ticket, holder: str, handle: TicketSession, lookup: Callable[[int], Ticket | None],
        service: Callable[[], Any] | None = None,
    ) -> None:
        self.ticket = ticket
        self.holder = holder
        self._handle = handle
        self._session = handle.session
        self._lookup = lookup
        # The admin session for S3 metadata (AVUs, see s3meta); paths are checked against the ticket first.
        self._service = service

    # -- helpers ----------------------------------------------------------------------------------------------

    def _check(self, path: str, action: str) -> str:
        path = paths.validate_path(path, self.ticket.path.split("/")[1])
        if not paths.is_within(self.ticket.path, path):
            raise PermissionDenied("path lies outside the ticket's target", details={"path": path})
        if not policy.action_allowed(self.ticket, action):
            raise PermissionDenied(f"a {self.ticket.access} ticket does not allow {action}")
        return quote_safe(path)

    def _call(self, func: Callable[[], Any], path: str) -> Any:
        try:
            return func()
        except TicketBoothError:
            raise
        except Exception as err:  # noqa: BLE001 - mapped
            raise translate(err, context="use", path=path) from err

    def touch(self) -> None:
        """Stat the target once: the request in which iRODS counts this session's use (or refuses it)."""
        self.stat(self.ticket.path)
        # Show the caller the ticket as this use left it (its use counted).
        self.ticket = self._lookup(self.ticket.id) or self.ticket

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
                raise translate(err, context="use", path=path) from err
        try:
            obj = self._session.data_objects.get(path)
        except (DataObjectDoesNotExist, CollectionDoesNotExist):
            raise PathNotFound(details={"path": path}) from None
        except Exception as err:  # noqa: BLE001 - mapped
            raise translate(err, context="use", path=path) from err
        return ObjectInfo(path=path, is_collection=False, size=int(obj.size or 0),
                          modified_at=obj.modify_time, etag=_etag(obj.checksum), metadata=self._metadata(path))

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

    def _children(self, collection: str) -> list[tuple[bytes, ObjectInfo]]:
        entries: dict[bytes, ObjectInfo] = {}
        objects = self._session.query(DataObject.name, DataObject.size, DataObject.modify_time, DataObject.checksum)
        for row in self._call(lambda: list(objects.filter(Collection.name == collection).get_results()), collection):
            path = paths.join(collection, row[DataObject.name])
            # One row per replica: the first one describes the object.
            entries.setdefault(paths.listing_key(path, False), ObjectInfo(
                path=path, is_collection=False, size=int(row[DataObject.size] or 0),
                modified_at=row.get(DataObject.modify_time), etag=_etag(row.get(DataObject.checksum)),
            ))
        subs = self._session.query(Collection.name, Collection.modify_time)
        for row in self._call(lambda: list(subs.filter(Collection.parent_name == collection).get_results()), collection):
            name = row[Collection.name]
            if name == collection or not paths.is_within(collection, name):
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
        return self._call(lambda: self._session.data_objects.open(path, "r", allow_redirect=False), path)

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None,
              metadata: ObjectMetadata | None = None) -> ObjectInfo:
        """Spool ``stream`` locally, then store it: iRODS sees nothing until the stream was read to its end.

        iRODS counts a write file when a data object is opened for writing and truncates a replaced object at
        once, so a stream that fails (or turns out too long for the write-byte limit) must fail before that.
        """
        path = self._check(path, "write")
        if self.ticket.target_kind is TargetKind.DATA_OBJECT and path != self.ticket.path:
            raise PermissionDenied("a data-object ticket writes only its object", details={"path": path})
        remaining = self._write_budget(size)
        self._check_no_conflict(path)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
            _spool(stream, spool, remaining, path)
            spool.seek(0)
            self._make_parents(path)
            handle = self._call(lambda: self._session.data_objects.open(path, "w", allow_redirect=False), path)
            try:
                shutil.copyfileobj(spool, handle, CHUNK)
                self._call(handle.close, path)
            except BaseException:
                # iRODS already truncated or created the object: a partial object is worse than none.
                with contextlib.suppress(Exception):
                    handle.close()
                with contextlib.suppress(Exception):
                    self._session.data_objects.unlink(path, force=True)
                raise
        self._set_metadata(path, metadata)
        return self.stat(path)

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
        """Create the missing parents of ``path`` and mark them ``s3.implicit`` (see :meth:`delete`)."""
        missing = self._missing_parents(path)
        if not missing:
            return
        self._call(lambda: self._session.collections.create(missing[-1], recurse=True), missing[-1])
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
        self._make_parents(path)
        from irods.keywords import FORCE_FLAG_KW

        self._call(lambda: self._session.data_objects.copy(source, path, **{FORCE_FLAG_KW: ""}), path)
        self._set_metadata(path, kept)
        return self.stat(path)

    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        self._check(path, "write")
        return False  # not kept on iRODS yet: the ETag stays iRODS's checksum (docs/irods.md)

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
        """Refuse before anything is written when a write limit is already reached; the bytes still allowed."""
        current = self._lookup(self.ticket.id) or self.ticket
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
        self._call(lambda: self._session.data_objects.unlink(path, force=True), path)
        self._prune(paths.parent(path))

    def _prune(self, collection: str) -> None:
        """Remove ``collection`` and its parents while each is ``s3.implicit``, empty and below the target."""
        while self._service is not None and collection != self.ticket.path and paths.is_within(
                self.ticket.path, collection):
            if not self._call(lambda c=collection: s3meta.is_implicit(self._service(), c), collection):  # type: ignore[misc]
                return
            if self._children(collection):
                return
            try:
                self._call(lambda c=collection: self._session.collections.remove(c, recurse=False, force=True),
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
            self._call(lambda: self._session.collections.create(path, recurse=True), path)
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
        if self._children(path):
            raise Conflict("the collection is not empty", details={"path": path})
        self._call(lambda: self._session.collections.remove(path, recurse=False, force=True), path)
        self._prune(paths.parent(path))

    def close(self) -> None:
        self._handle.close()


def _spool(stream: BinaryIO, spool: BinaryIO, remaining: int | None, path: str) -> None:
    """Copy ``stream`` into ``spool`` in CHUNK reads; stop at once when more than ``remaining`` bytes arrive."""
    written = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        written += len(chunk)
        if remaining is not None and written > remaining:
            raise TicketWriteBytesExceeded(details={"path": path})
        spool.write(chunk)

