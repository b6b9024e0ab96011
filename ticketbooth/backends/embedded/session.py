"""Data access through one ticket in the embedded backend (one gateway request = one session = one use)."""
from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

from ... import paths, policy
from ...errors import (
    Conflict,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketNotFound,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)
from ...model import Ticket
from ..base import DataSession, ObjectInfo, ObjectLayout, ObjectMetadata, provisional_etag
from . import index
from .catalog import Catalog, from_micros, to_micros
from .storage import Touched, ZoneStorage, kind_of

_MD5 = re.compile(r"[0-9a-f]{32}")

__all__ = ["EmbeddedSession"]


class EmbeddedSession(DataSession):
    """A :class:`DataSession` over the embedded zone; built by ``EmbeddedBackend.open_session`` only."""

    def __init__(
        self, catalog: Catalog, storage: ZoneStorage, ticket: Ticket, holder: str, clock: Callable[[], datetime],
        on_stale: Callable[[], None] = lambda: None,
    ) -> None:
        self.ticket = ticket
        self.holder = holder
        self._catalog = catalog
        self._storage = storage
        self._clock = clock
        self._on_stale = on_stale  # a listing met a collection changed by hand: ask for an index pass

    # -- checks ----------------------------------------------------------------------------------------

    def _inside(self, path: str, action: str) -> str:
        path = paths.validate_path(path, self._storage.zone)
        if not paths.is_within(self.ticket.path, path):
            raise PermissionDenied("path lies outside the ticket's target", details={"path": path})
        if not policy.action_allowed(self.ticket, action):
            raise PermissionDenied(f"a {self.ticket.access} ticket does not allow {action}")
        return path

    def _info(self, row: index.Row) -> ObjectInfo:
        modified = from_micros(row.mtime_ns // 1000)
        if row.is_collection:
            return ObjectInfo(row.path, True, 0, modified, None)
        etag = row.md5 if row.md5 is not None else provisional_etag(row.size, row.mtime_ns)
        return ObjectInfo(row.path, False, row.size, modified, etag)

    # -- DataSession -----------------------------------------------------------------------------------

    def stat(self, path: str) -> ObjectInfo:
        path = self._inside(path, "stat")
        st = self._storage.lstat(path)  # one walk from the zone root tells both what and how big
        kind = kind_of(st)
        if st is None or kind is None:
            raise PathNotFound(details={"path": path})
        modified = from_micros(st.st_mtime_ns // 1000)
        if kind == "collection":
            return ObjectInfo(path, True, 0, modified, None)
        # The disk says what is there; the index only knows its MD5 (when it saw this very size and mtime).
        found = self._catalog.fetch_one(_STAT_SQL, (path,))
        key, size, mtime_ns, md5, meta, layout_etag, layout = found or (None,) * 7
        row = None if key is None else index.Row(key, size, mtime_ns, md5)
        metadata = ObjectMetadata() if meta is None else ObjectMetadata.from_dict(json.loads(meta))
        etag = index.etag_of(row, st.st_size, st.st_mtime_ns)
        kept = _layout(layout) if layout is not None and layout_etag == etag else None
        return ObjectInfo(path, False, st.st_size, modified, etag, metadata, kept)

    def list(self, collection: str, *, recursive: bool, start_after: str | None = None) -> Iterator[ObjectInfo]:
        collection = self._inside(collection, "list")
        if self._storage.kind(collection) != "collection":
            raise PathNotFound(details={"path": collection})
        after = self._after_key(start_after)
        lister = index.list_files if recursive else index.list_children
        return (self._info(row) for row in lister(self._catalog, self._storage, collection, after, self._on_stale))

    def _after_key(self, start_after: str | None) -> str | None:
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
        return key

    def open_read(self, path: str) -> BinaryIO:
        return self._storage.open_read(self._inside(path, "read"))

    def write(self, path: str, stream: BinaryIO, *, size: int | None = None,
              metadata: ObjectMetadata | None = None) -> ObjectInfo:
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
        mtime_ns = to_micros(self._clock()) * 1000

        def commit(conn: sqlite3.Connection) -> os.stat_result:
            # Check and count under the write lock, then make the data visible: a refusal leaves nothing.
            current = self._catalog.get_ticket(conn, ticket_id)
            if current is None:
                raise TicketNotFound()
            self._check_write_files(current)
            if current.write_byte_limit and current.write_byte_count + spooled.size > current.write_byte_limit:
                raise TicketWriteBytesExceeded()
            st, touched = self._storage.place(spooled, path, mtime_ns=mtime_ns)
            index.record_object(conn, path, st.st_size, st.st_mtime_ns, spooled.md5)
            index.record_collections(conn, touched)
            self._catalog.mark_implicit(conn, [t.path for t in touched if t.before_ns is None])
            self._catalog.put_metadata(conn, path, metadata)
            self._catalog.count_write(conn, ticket_id, spooled.size)
            return st

        try:
            # Concurrent writes share one transaction and its fsync (group commit); each is checked in turn.
            st = self._catalog.commit(commit)
        finally:
            self._storage.discard(spooled)
        return ObjectInfo(path, False, spooled.size, from_micros(st.st_mtime_ns // 1000), spooled.md5,
                          metadata or ObjectMetadata())

    def copy(self, source: str, path: str, *, metadata: ObjectMetadata | None = None) -> ObjectInfo:
        source = self._inside(source, "read")
        self._inside(path, "write")
        info = self.stat(source)
        if info.is_collection:
            raise PathNotFound("not a data object", details={"path": source})
        kept = info.metadata if metadata is None else metadata
        if source == path:  # a copy onto itself changes only the metadata (rclone's mtime repair)
            with self._catalog.write() as conn:
                self._catalog.put_metadata(conn, path, kept)
            return self.stat(path)
        # The bytes move inside this process (disk to spool to disk), never through the caller.
        with self._storage.open_read(source) as stream:
            return self.write(path, stream, size=info.size, metadata=kept)

    def set_layout(self, path: str, layout: ObjectLayout) -> bool:
        path = self._inside(path, "write")
        with self._catalog.write() as conn:
            row = index.lookup(conn, [path]).get(path)
            st = self._storage.lstat(path)
            # The index holds the content's MD5, or the ETag of the layout kept for it (whose md5 says the content).
            known = None if row is None else (row.md5 if _MD5.fullmatch(row.md5 or "") else
                                              getattr(_kept_layout(conn, path, row.md5), "md5", None))
            if (row is None or st is None or layout.md5 != known or row.size != layout.size
                    or (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns)):
                return False  # another write (or a hand) changed the object since
            # The index's ETag becomes the one S3 answered, so stat and listings agree; a change on disk makes
            # the index rehash the file, and the layout stops applying.
            index.record_object(conn, path, row.size, row.mtime_ns, layout.etag)
            conn.execute("INSERT OR REPLACE INTO layouts (path, etag, layout) VALUES (?, ?, ?)",
                         (path, layout.etag, json.dumps(layout.to_dict(), sort_keys=True)))
        return True

    @staticmethod
    def _check_write_files(ticket: Ticket) -> None:
        if ticket.write_file_limit and ticket.write_file_count >= ticket.write_file_limit:
            raise TicketWriteFilesExceeded()

    def delete(self, path: str) -> None:
        path = self._inside(path, "delete")
        with self._catalog.write() as conn:
            touched = self._storage.remove(path)
            index.forget(conn, path)
            conn.execute("DELETE FROM layouts WHERE path = ?", (path,))
            index.record_collections(conn, [touched])
            self._catalog.put_metadata(conn, path, None)
            self._prune(conn, paths.parent(path))

    def _prune(self, conn: sqlite3.Connection, collection: str) -> None:
        """Remove ``collection`` and its parents while each is implicit, empty and below the ticket's target.
        Runs inside the catalogue's write transaction, so no write through TicketBooth places a file between."""
        while collection != self.ticket.path and paths.is_within(self.ticket.path, collection):
            if not self._catalog.is_implicit(conn, collection):
                return
            try:
                self._forget_collection(conn, collection, self._storage.remove_collection(collection))
            except Conflict:
                return
            except PathNotFound:
                self._catalog.forget_collection(conn, collection)
            collection = paths.parent(collection)

    def _forget_collection(self, conn: sqlite3.Connection, collection: str, touched: Touched) -> None:
        index.forget(conn, collection + "/")  # a collection's index key ends with "/"
        index.record_collections(conn, [touched])
        self._catalog.forget_collection(conn, collection)

    def make_collection(self, path: str) -> ObjectInfo:
        path = self._inside(path, "write")
        with self._catalog.write() as conn:
            touched = self._storage.make_collections(path)
            index.record_collections(conn, touched)
            self._catalog.mark_implicit(conn, [t.path for t in touched if t.before_ns is None and t.path != path])
            self._catalog.forget_collection(conn, path)  # explicit now, also when it was there already
        return self.stat(path)

    def remove_collection(self, path: str) -> None:
        path = self._inside(path, "delete")
        if path == self.ticket.path:
            raise PermissionDenied("the ticket's target itself is never removed", details={"path": path})
        with self._catalog.write() as conn:
            self._forget_collection(conn, path, self._storage.remove_collection(path))
            self._prune(conn, paths.parent(path))


# What a stat needs besides the disk, in one statement: the index row, the S3 metadata and the kept layout
# (valid while its ETag is the object's) of one path. Three queries in a transaction before (issue 11 item 6).
_STAT_SQL = (
    "SELECT t.key, t.size, t.mtime_ns, t.md5, m.meta, l.etag, l.layout FROM (SELECT ? AS path) q"
    " LEFT JOIN tree t ON t.key = q.path LEFT JOIN object_meta m ON m.path = q.path"
    " LEFT JOIN layouts l ON l.path = q.path"
)


def _kept_layout(conn: sqlite3.Connection, path: str, etag: str) -> ObjectLayout | None:
    """The layout kept for ``path`` while the index holds its ETag ``etag``, if any."""
    found = conn.execute("SELECT layout FROM layouts WHERE path = ? AND etag = ?", (path, etag)).fetchone()
    return None if found is None else _layout(found[0])


def _layout(text: str) -> ObjectLayout | None:
    """A kept layout (JSON); ``None`` when it cannot be read (it is then simply not used)."""
    try:
        return ObjectLayout.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError):
        return None
