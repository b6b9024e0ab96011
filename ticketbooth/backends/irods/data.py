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
from ..base import DataSession, ObjectInfo
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
        self, ticket: Ticket, holder: str, handle: TicketSession, lookup: Callable[[int], Ticket | None]
    ) -> None:
        self.ticket = ticket
        self.holder = holder
        self._handle = handle
        self._session = handle.session
        self._lookup = lookup

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
                          modified_at=obj.modify_time, etag=_etag(obj.checksum))

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

    def _walk(self, collection: str, recursive: bool, after: bytes | None) -> Iterator[ObjectInfo]:
        for key, info in self._children(collection):
            if info.is_collection:
                if after is not None and key < after and not after.startswith(key):
                    continue  # the whole subtree sorts before start_after
                if recursive:
                    yield from self._walk(info.path, True, after)
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

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None) -> ObjectInfo:
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
            parent = paths.parent(path)
            if parent != self.ticket.path and paths.is_within(self.ticket.path, parent):
                self._call(lambda: self._session.collections.create(parent, recurse=True), parent)
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
        return self.stat(path)

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

