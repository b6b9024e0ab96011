"""Data access through one ticket in the embedded backend (one gateway request = one session = one use)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

from ... import paths, policy
from ...errors import (
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketNotFound,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from ...model import Ticket
from ..base import DataSession, ObjectInfo
from .catalog import Catalog, from_micros, to_micros
from .storage import Entry, ZoneStorage

__all__ = ["EmbeddedSession"]


class EmbeddedSession(DataSession):
    """A :class:`DataSession` over the embedded zone; built by ``EmbeddedBackend.open_session`` only."""

    def __init__(
        self, catalog: Catalog, storage: ZoneStorage, ticket: Ticket, holder: str, clock: Callable[[], datetime]
    ) -> None:
        self.ticket = ticket
        self.holder = holder
        self._catalog = catalog
        self._storage = storage
        self._clock = clock

    # -- checks ----------------------------------------------------------------------------------------

    def _inside(self, path: str, action: str) -> str:
        path = paths.validate_path(path, self._storage.zone)
        if not paths.is_within(self.ticket.path, path):
            raise PermissionDenied("path lies outside the ticket's target", details={"path": path})
        if not policy.action_allowed(self.ticket, action):
            raise PermissionDenied(f"a {self.ticket.access} ticket does not allow {action}")
        return path

    def _info(self, entry: Entry) -> ObjectInfo:
        modified = from_micros(entry.stat.st_mtime_ns // 1000)
        if entry.is_collection:
            return ObjectInfo(entry.path, True, 0, modified, None)
        return ObjectInfo(entry.path, False, entry.stat.st_size, modified, self._etag(entry))

    def _etag(self, entry: Entry) -> str:
        size, mtime_ns = entry.stat.st_size, entry.stat.st_mtime_ns
        with self._catalog.read() as conn:
            known = self._catalog.object_md5(conn, entry.path, size, mtime_ns)
        if known is not None:
            return known
        # Placed or changed on disk by hand: compute once and remember it with the size and mtime seen.
        with self._storage.open_read(entry.path) as stream:
            md5 = self._storage.md5_of(stream)
        assert md5 is not None
        with self._catalog.write() as conn:
            self._catalog.put_object(conn, entry.path, size, mtime_ns, md5)
        return md5

    # -- DataSession -----------------------------------------------------------------------------------

    def stat(self, path: str) -> ObjectInfo:
        path = self._inside(path, "stat")
        st = self._storage.lstat(path)
        kind = self._storage.kind(path)
        if st is None or kind is None:
            raise PathNotFound(details={"path": path})
        return self._info(Entry(path, kind == "collection", st))

    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        collection = self._inside(collection, "list")
        if self._storage.kind(collection) != "collection":
            raise PathNotFound(details={"path": collection})
        return self._iterate(collection, recursive, self._after_key(start_after))

    def _after_key(self, start_after: str | None) -> bytes | None:
        """``start_after`` as an S3 key: a collection's key ends with "/", so nothing of it is listed again."""
        if start_after is None:
            return None
        key = start_after
        if not key.endswith("/"):
            try:
                if self._storage.kind(paths.validate_path(key, self._storage.zone)) == "collection":
                    key += "/"
            except TicketBoothError:  # not a path we could hold: compare it as plain text
                pass
        return key.encode("utf-8", "surrogatepass")

    def _iterate(self, collection: str, recursive: bool, after: bytes | None) -> Iterator[ObjectInfo]:
        if recursive:
            for entry in self._storage.walk(collection, after):
                yield self._info(entry)
            return
        for entry in self._storage.children(collection):
            if after is None or entry.sort_key > after:
                yield self._info(entry)

    def open_read(self, path: str) -> BinaryIO:
        return self._storage.open_read(self._inside(path, "read"))

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None) -> ObjectInfo:
        path = self._inside(path, "write")
        ticket_id = self.ticket.id
        with self._catalog.read() as conn:
            current = self._catalog.get_ticket(conn, ticket_id)
        if current is None:
            raise TicketNotFound()
        self._check_write_files(current)
        room = None
        if current.write_byte_limit:
            room = max(current.write_byte_limit - current.write_byte_count, 0)
            if size is not None and size > room:
                raise TicketWriteBytesExceeded()
        spooled = self._storage.spool(stream, size=size, max_bytes=room, too_big=TicketWriteBytesExceeded)
        try:
            mtime_ns = to_micros(self._clock()) * 1000
            # Check and count under the write lock, then make the data visible: a refusal leaves nothing.
            with self._catalog.write() as conn:
                current = self._catalog.get_ticket(conn, ticket_id)
                if current is None:
                    raise TicketNotFound()
                self._check_write_files(current)
                if current.write_byte_limit and current.write_byte_count + spooled.size > current.write_byte_limit:
                    raise TicketWriteBytesExceeded()
                st, _ = self._storage.place(spooled, path, mtime_ns=mtime_ns)
                self._catalog.put_object(conn, path, st.st_size, st.st_mtime_ns, spooled.md5)
                self._catalog.count_write(conn, ticket_id, spooled.size)
        finally:
            self._storage.discard(spooled)
        return ObjectInfo(path, False, spooled.size, from_micros(st.st_mtime_ns // 1000), spooled.md5)

    @staticmethod
    def _check_write_files(ticket: Ticket) -> None:
        if ticket.write_file_limit and ticket.write_file_count >= ticket.write_file_limit:
            raise TicketWriteFilesExceeded()

    def delete(self, path: str) -> None:
        path = self._inside(path, "delete")
        with self._catalog.write() as conn:
            self._storage.remove(path)
            self._catalog.forget_object(conn, path)
