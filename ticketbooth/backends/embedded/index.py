"""The embedded backend's ordered index of the zone: one catalogue row per collection and data object.

Rows live in the catalogue's ``tree`` table, keyed by logical path with a collection's key ending in ``/``
(:func:`ticketbooth.paths.listing_key`), so the table's own order is S3 key order and a collection's subtree is
the contiguous key range ``[C/, C0)``. A listing page is then a range read proportional to the page, whatever
the size of the collection or the depth of its keys.

Each row holds ``size``, ``mtime_ns`` and ``md5`` (``NULL`` until known). A collection's ``mtime_ns`` is the
directory's modification time at the moment the index last knew all of its entries. Writes through TicketBooth
update the rows in the same catalogue transaction as the change on disk, directory times included. Files placed,
changed or removed on disk by hand change their directory's time: a listing compares the times of the directories
its page spans with the disk and, when one differs, serves that listing from the disk (correct, only slower) and
asks for a :func:`reconcile` pass, which brings the index in line. A hand-placed file's ETag is never an MD5
(see :func:`ticketbooth.backends.base.provisional_etag`): an ETag must not change while the content does not, and hashing in the
background would flip it under a client that is reading (DuckDB and s3transfer check it between requests).
Nothing on a read path writes. Changes made by hand that leave a directory's time alone (rewriting a file in
place) reach listings with the next periodic pass; HEAD and GET always read the disk.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from ...errors import TicketBoothError
from ..base import provisional_etag
from .catalog import Catalog
from .storage import Entry, Touched, ZoneStorage

__all__ = ["Row", "IndexStats", "record_object", "record_collections", "forget", "lookup",
           "etag_of", "list_files", "list_children", "reconcile", "BATCH"]

BATCH = 1000  # rows per range read: one page of the largest S3 listing


@dataclass(frozen=True)
class Row:
    """One index row: ``key`` (a collection's ends with ``/``), size, mtime (ns), MD5 hex or ``None``."""

    key: str
    size: int
    mtime_ns: int
    md5: str | None

    @property
    def is_collection(self) -> bool:
        return self.key.endswith("/")

    @property
    def path(self) -> str:
        return self.key[:-1] if self.is_collection else self.key


@dataclass
class IndexStats:
    """What a :func:`reconcile` pass changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0


def _key(path: str, is_collection: bool) -> str:
    return path + "/" if is_collection else path


def _end(collection_key: str) -> str:
    """The first key after every key below ``collection_key`` (``C/`` -> ``C0``: ``/`` + 1 is ``0``)."""
    return collection_key[:-1] + "0"


_COLUMNS = "key, size, mtime_ns, md5"


def _rows(cursor: Iterable[tuple[str, int, int, str | None]]) -> list[Row]:
    return [Row(*row) for row in cursor]


# -- writes (inside the caller's write transaction) --------------------------------------------------------

def record_object(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, md5: str | None) -> None:
    conn.execute(
        "INSERT INTO tree (key, size, mtime_ns, md5) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " size = excluded.size, mtime_ns = excluded.mtime_ns, md5 = excluded.md5",
        (path, size, mtime_ns, md5),
    )


def record_collections(conn: sqlite3.Connection, touched: Iterable[Touched]) -> None:
    """Record collections whose entries the caller changed, with their directories' new times.

    A collection the index already knew moves to its new time only if the index was in line with it before
    the change (its row held the time from before): one changed by hand stays marked as changed.
    """
    for t in touched:
        key = _key(t.path, True)
        if t.before_ns is None:
            conn.execute("INSERT INTO tree (key, size, mtime_ns, md5) VALUES (?, 0, ?, NULL) ON CONFLICT (key)"
                         " DO UPDATE SET mtime_ns = excluded.mtime_ns", (key, t.after_ns))
        else:
            conn.execute("UPDATE tree SET mtime_ns = ? WHERE key = ? AND mtime_ns = ?",
                         (t.after_ns, key, t.before_ns))


def forget(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("DELETE FROM tree WHERE key = ?", (path,))


# -- reads -------------------------------------------------------------------------------------------------

def lookup(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for row in _rows(conn.execute(f"SELECT {_COLUMNS} FROM tree WHERE key IN ({marks})", chunk)):
            found[row.key] = row
    return found


def etag_of(row: Row | None, size: int, mtime_ns: int) -> str:
    """The ETag of a file with ``size`` and ``mtime_ns`` on disk, given its index row (if any): the MD5 the index
    saw for this very size and mtime, else the provisional ETag (a file placed by hand; a rewrite through the
    gateway gives it its MD5)."""
    if row is not None and row.md5 is not None and row.size == size and row.mtime_ns == mtime_ns:
        return row.md5
    return provisional_etag(size, mtime_ns)


def _range(conn: sqlite3.Connection, low: str, high: str, *, inclusive: bool, limit: int) -> list[Row]:
    op = ">=" if inclusive else ">"
    return _rows(conn.execute(
        f"SELECT {_COLUMNS} FROM tree WHERE key {op} ? AND key < ? ORDER BY key LIMIT ?", (low, high, limit)))


def _ancestors(base: str, low: str) -> list[str]:
    """The collection keys from ``base`` down to the collection holding ``low`` (a key below ``base``)."""
    keys = [base]
    at = low.find("/", len(base))
    while at != -1 and at < len(low):
        keys.append(low[: at + 1])
        at = low.find("/", at + 1)
    return keys


def _stale(storage: ZoneStorage, keys: Sequence[str], known: dict[str, Row]) -> bool:
    """True when a collection among ``keys`` is not on disk as the index last saw it."""
    for key, mtime in zip(keys, storage.dir_mtimes([k[:-1] for k in keys]), strict=True):
        row = known.get(key)
        if (row.mtime_ns if row is not None else None) != mtime:
            return True
    return False


def _from_disk(catalog: Catalog, entries: Iterable[Entry]) -> Iterator[Row]:
    """Disk entries as rows, with the MD5 the index knows for the same size and mtime."""
    batch: list[Entry] = []

    def flush() -> Iterator[Row]:
        with catalog.read() as conn:
            known = lookup(conn, [e.path for e in batch if not e.is_collection])
        for e in batch:
            row = known.get(e.path)
            size = 0 if e.is_collection else e.stat.st_size
            md5 = row.md5 if row is not None and (row.size, row.mtime_ns) == (size, e.stat.st_mtime_ns) else None
            yield Row(_key(e.path, e.is_collection), size, e.stat.st_mtime_ns, md5)
        batch.clear()

    for entry in entries:
        batch.append(entry)
        if len(batch) >= 200:
            yield from flush()
    yield from flush()


def list_files(catalog: Catalog, storage: ZoneStorage, collection: str, after: str | None,
               on_stale: Callable[[], None]) -> Iterator[Row]:
    """Every data object below ``collection`` at any depth, and every empty collection (S3's folder marker
    ``C/``: a collection row the next row does not lie below), in key order, with a key after ``after``.

    Reads :data:`BATCH` rows at a time. Before a batch is yielded, the collections it spans (and those holding
    its first key) are compared with the disk; when one changed by hand, the rest comes from a disk walk.
    """
    base = _key(collection, True)
    low = base if after is None or after < base else after
    first = True
    pending: Row | None = None  # a collection row; empty unless the next row lies below it
    while True:
        with catalog.read() as conn:
            rows = _range(conn, low, _end(base), inclusive=False, limit=BATCH)
            holding = _ancestors(base, low) if first else []
            known = lookup(conn, holding)
        known.update((r.key, r) for r in rows if r.is_collection)
        spanned = holding + [r.key for r in rows if r.is_collection]
        if _stale(storage, spanned, known):
            on_stale()
            if pending is not None and _empty_on_disk(storage, pending.path):
                yield pending
            yield from _from_disk(catalog, storage.walk(collection, low.encode("utf-8", "surrogatepass"),
                                                        empty_collections=True))
            return
        for row in rows:
            if pending is not None and not row.key.startswith(pending.key):
                yield pending
            pending = row if row.is_collection else None
            if not row.is_collection:
                yield row
        if len(rows) < BATCH:
            if pending is not None:
                yield pending
            return
        low, first = rows[-1].key, False


def _empty_on_disk(storage: ZoneStorage, collection: str) -> bool:
    try:
        return not storage.children(collection)
    except TicketBoothError:  # gone or changed meanwhile: not a marker to show
        return False


def list_children(catalog: Catalog, storage: ZoneStorage, collection: str, after: str | None,
                  on_stale: Callable[[], None]) -> Iterator[Row]:
    """The direct children of ``collection`` (collections included) in key order, with a key after ``after``.

    Skips each child collection's subtree with one range read, so a page costs one read per child collection
    plus one per :data:`BATCH` data objects.
    """
    base = _key(collection, True)
    with catalog.read() as conn:
        known = lookup(conn, [base])
    if _stale(storage, [base], known):
        on_stale()
        entries = storage.children(collection)
        limit = None if after is None else after.encode("utf-8", "surrogatepass")
        yield from _from_disk(catalog, (e for e in entries if limit is None or e.sort_key > limit))
        return
    low, inclusive = (base if after is None or after < base else after), False
    while True:
        batch: list[Row] = []
        done = False
        with catalog.read() as conn:
            while len(batch) < BATCH and not done:
                rows = _range(conn, low, _end(base), inclusive=inclusive, limit=BATCH)
                done = len(rows) < BATCH
                for row in rows:
                    cut = row.key.find("/", len(base))
                    if cut == -1:
                        batch.append(row)
                        low, inclusive = row.key, False
                        continue
                    child = row.key[: cut + 1]
                    if after is None or child > after:
                        batch.append(row if row.key == child else Row(child, 0, row.mtime_ns, None))
                    low, inclusive, done = _end(child), True, False
                    break
        yield from batch
        if done:
            return


# -- reconciling -------------------------------------------------------------------------------------------

def _all_rows(catalog: Catalog, base: str) -> Iterator[Row]:
    low = base
    while True:
        with catalog.read() as conn:
            rows = _range(conn, low, _end(base), inclusive=True, limit=BATCH)
        yield from rows
        if len(rows) < BATCH:
            return
        low = rows[-1].key + "\x00"  # keys hold no control characters: the next key after this one


def _still(storage: ZoneStorage, row: Row | None, key: str) -> bool:
    """Does the disk still show what the walk saw (``row``) at ``key``, or nothing when ``row`` is ``None``?"""
    path = key[:-1] if key.endswith("/") else key
    try:
        st = storage.lstat(path)
        kind = storage.kind(path) if st is not None else None
    except TicketBoothError:
        st, kind = None, None
    if row is None:
        return kind != ("collection" if key.endswith("/") else "data_object")
    if kind != ("collection" if row.is_collection else "data_object") or st is None:
        return False
    return st.st_mtime_ns == row.mtime_ns and (row.is_collection or st.st_size == row.size)


def _apply(catalog: Catalog, storage: ZoneStorage, changes: list[tuple[str, Row | None]], stats: IndexStats,
           ) -> None:
    """Apply ``(key, row or None to drop)`` changes under the write lock, each only if the disk still agrees.

    Writes through tickets change the disk only inside their own write transactions, so what is verified
    here under the lock cannot be overtaken by one of them.
    """
    with catalog.write() as conn:
        for key, row in changes:
            if not _still(storage, row, key):
                continue
            if row is None:
                forget(conn, key)
                stats.removed += 1
            else:
                conn.execute(
                    "INSERT INTO tree (key, size, mtime_ns, md5) VALUES (?, ?, ?, NULL) ON CONFLICT (key) DO UPDATE"
                    " SET size = excluded.size, mtime_ns = excluded.mtime_ns, md5 = CASE WHEN tree.size ="
                    " excluded.size AND tree.mtime_ns = excluded.mtime_ns THEN tree.md5 END",
                    (key, row.size, row.mtime_ns),
                )
    changes.clear()


def reconcile(catalog: Catalog, storage: ZoneStorage, *, stop: Callable[[], bool] = lambda: False,
              batch: int = 500) -> IndexStats:
    """Bring the index in line with the zone on disk.

    Walks the tree once (merge-joined with the index in key order), so a pass costs one ``lstat`` per entry and
    reads no file. Every change is verified against the disk again under the write lock. ``stop()`` ends the
    pass early.
    """
    stats = IndexStats()
    base = storage.zone_path + "/"
    changes: list[tuple[str, Row | None]] = []
    disk = (Row(_key(e.path, e.is_collection), 0 if e.is_collection else e.stat.st_size, e.stat.st_mtime_ns,
                None) for e in storage.walk(storage.zone_path, files_only=False))
    index = _all_rows(catalog, base)
    on_disk, in_index = next(disk, None), next(index, None)
    while on_disk is not None or in_index is not None:
        if stop():
            return stats
        if in_index is None or (on_disk is not None and on_disk.key < in_index.key):
            assert on_disk is not None
            changes.append((on_disk.key, on_disk))
            stats.added += 1
            on_disk = next(disk, None)
        elif on_disk is None or in_index.key < on_disk.key:
            changes.append((in_index.key, None))
            in_index = next(index, None)
        else:
            if (on_disk.size, on_disk.mtime_ns) != (in_index.size, in_index.mtime_ns):
                changes.append((on_disk.key, on_disk))
                stats.updated += 1
            on_disk, in_index = next(disk, None), next(index, None)
        if len(changes) >= batch:
            _apply(catalog, storage, changes, stats)
    if changes:
        _apply(catalog, storage, changes, stats)
    return stats

