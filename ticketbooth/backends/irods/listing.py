"""A collection's children in S3 key order, read from the catalog a batch at a time from where a page starts.

S3 orders keys by UTF-8 bytes, a collection as its name followed by ``/`` (``paths.listing_key``). Where the
catalog compares names by bytes too (``genquery.compares_bytewise``), each level is two ordered GenQueries —
the data objects by name after the marker, the sub-collections by name from the marker's first segment — read
:data:`BATCH` rows per round trip as the caller consumes them, so a page costs the same few round trips at the
start of a collection of 10,000 objects as at its end. Only the kept layouts (``s3.layout``) of the names in the
batch are read with it. Elsewhere every row of the level is read and sorted here, as before.

GenQuery (not the listing) still costs in proportion to the rows *after* a page's lower bound: the server reads
every matching row from the database before it sends the first batch, about 15 ms more for the first page of a
10,000-object collection than of a 1,000-object one on the test zone. :class:`BatchEnds` therefore remembers
where the batches of each collection ended, and a later listing asks for "after the marker, up to the next known
end": a range holds about one batch, whatever the collection's size. The ends are hints, never trusted for
content: a range query returns every name in it (more when names were added there, fewer when removed), and
the walk goes on from the range's end, so a stale end only changes how the rows are cut into round trips. A
collection's first listing in a process reads the rest of it in one stream, as without the hints.

Only objects with a good replica are listed (``DataObject.replica_status`` '1', :func:`good_rows`): what an
interrupted write left is a stale replica, not the object. An object without an MD5 checksum gets the
provisional ETag of its modify time and size (:func:`etag_of`, ``base.provisional_etag``).

Two orders differ: the catalog orders sub-collections by name, S3 by name + ``/`` (``a-b/`` < ``a/``, yet
``a`` < ``a-b``); :class:`CollectionOrder` reorders them, holding back a name only while a later one could still
sort before it. GenQuery cannot quote an apostrophe (nor should a control character reach a query), so a bound
is cut before the first such character: a wider range, never a narrower one; the caller drops what lies at or
before the marker anyway.
"""
from __future__ import annotations

import bisect
import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ... import paths
from ...errors import InvalidPath
from ..base import ObjectInfo, provisional_etag
from . import genquery, layouts

__all__ = ["BATCH", "GOOD_REPLICA", "BatchEnds", "CollectionOrder", "bounds", "children", "etag_of", "good_rows",
           "md5_of", "safe_bound"]

#: Rows per catalog round trip (python-irodsclient's own default, IRODS_QUERY_LIMIT).
BATCH = 500
#: ``DataObject.replica_status`` of a replica whose content is complete (0 stale, 2 being written, 3/4 locked).
GOOD_REPLICA = "1"

log = logging.getLogger(__name__)

Entry = tuple[bytes, ObjectInfo]


def md5_of(checksum: object) -> str | None:
    """iRODS keeps 'sha2:<base64>' or a bare hex MD5; only the latter is the content's MD5."""
    if isinstance(checksum, str) and len(checksum) == 32 and all(c in "0123456789abcdef" for c in checksum):
        return checksum
    return None


def etag_of(checksum: object, size: int, modified: datetime | None) -> str | None:
    """The S3 ETag of a data object from what a stat or listing row holds: its MD5 checksum, else (no checksum,
    or iRODS's SHA-256) the provisional ETag of its modify time and size (pure). iRODS keeps modify times to the
    second, so an object rewritten past TicketBooth with the same size within one second keeps it (writes through
    TicketBooth register the MD5)."""
    md5 = md5_of(checksum)
    if md5 is not None or modified is None:
        return md5
    return provisional_etag(size, int(modified.timestamp()) * 1_000_000_000)


def good_rows(rows: list[dict[Any, Any]]) -> list[dict[Any, Any]]:
    """The rows (one per replica) of replicas whose content is complete (pure): iRODS keeps what an interrupted
    write had sent as a stale replica, which must not read as the object."""
    from irods.models import DataObject

    return [row for row in rows if str(row.get(DataObject.replica_status)) == GOOD_REPLICA]


def safe_bound(text: str) -> tuple[str, bool]:
    """``text`` cut before the first character GenQuery must not see (``'``, ``\\``, control characters), and
    whether it was cut (pure)."""
    for index, char in enumerate(text):
        if char in "'\\" or ord(char) < 0x20 or ord(char) == 0x7F:
            return text[:index], True
    return text, False


def bounds(collection: str, after: bytes | None) -> tuple[str | None, str | None] | None:
    """The GenQuery lower bounds at ``collection`` for a walk that skips keys up to ``after`` (pure):
    ``(objects after this name, sub-collections from this name)``, either ``None`` for no bound; ``None``
    altogether when every key of this level lies at or before ``after``. A bound may admit more than the walk
    keeps, never less."""
    prefix = (collection.rstrip("/") + "/").encode("utf-8", "surrogatepass")
    if after is None or after < prefix:
        return None, None
    if not after.startswith(prefix):
        return None  # the whole level sorts before the marker
    rest = after[len(prefix):].decode("utf-8", "surrogatepass")
    # A sub-collection "n" lists as "n/": one whose name is a prefix of the marker's first segment followed there
    # by a character below "/" ("a" for "a.txt") sorts after the marker, so the bound stops before that character.
    segment = rest.split("/", 1)[0]
    cut = next((i for i, char in enumerate(segment) if char < "/"), len(segment))
    return rest, segment[:cut]


class CollectionOrder:
    """Sub-collections arriving in the catalog's name order, given out in S3 key order (name + ``/``).

    Every later name is greater than the last one read, and so is its key; a held key that is not greater
    than the last name read can therefore come out."""

    def __init__(self) -> None:
        self._held: list[tuple[bytes, ObjectInfo]] = []

    def add(self, batch: list[ObjectInfo]) -> list[Entry]:
        for info in batch:
            heapq.heappush(self._held, (paths.listing_key(info.path, True), info))
        if not batch:
            return []
        last = batch[-1].path.encode("utf-8", "surrogatepass")
        ready: list[Entry] = []
        while self._held and self._held[0][0] <= last:
            ready.append(heapq.heappop(self._held))
        return ready

    def rest(self) -> list[Entry]:
        ready = [heapq.heappop(self._held) for _ in range(len(self._held))]
        return ready


class BatchEnds:
    """The names at which ordered object batches of each collection ended (see the module docstring); at most
    ``max_collections`` collections (the least recently used forgotten) of ``per_collection`` ends each."""

    def __init__(self, max_collections: int = 256, per_collection: int = 2048) -> None:
        self._max, self._per = max_collections, per_collection
        self._lock = threading.Lock()
        self._ends: OrderedDict[str, list[str]] = OrderedDict()

    def after(self, collection: str, name: str | None) -> str | None:
        """The first known end after ``name`` (``None``: from the start) in ``collection``, if any."""
        with self._lock:
            ends = self._ends.get(collection)
            if not ends:
                return None
            self._ends.move_to_end(collection)
            index = 0 if name is None else bisect.bisect_right(ends, name)
            return ends[index] if index < len(ends) else None

    def note(self, collection: str, name: str) -> None:
        with self._lock:
            ends = self._ends.setdefault(collection, [])
            self._ends.move_to_end(collection)
            index = bisect.bisect_left(ends, name)
            if (index == len(ends) or ends[index] != name) and len(ends) < self._per:
                ends.insert(index, name)
            while len(self._ends) > self._max:
                self._ends.popitem(last=False)


def children(session: Any, service: Callable[[], Any] | None, collection: str, after: bytes | None, *,
             ordered: bool, skipped: Callable[[str, InvalidPath], None],
             ends: BatchEnds | None = None) -> Iterator[Entry]:
    """``(listing key, info)`` of every entry directly in ``collection``, in key order, from near ``after``
    (entries at or before it may come too; the caller drops them). ``session`` reads (the ticket session),
    ``service()`` reads the kept layouts (``None``: none); ``skipped`` is told of names no S3 key can carry;
    ``ends`` remembers where batches ended, for the next listing (``None``: nothing remembered)."""
    limits = bounds(collection, after) if ordered else (None, None)
    if limits is None:
        return
    objects = _objects(session, service, collection, limits[0], ordered, skipped, ends or BatchEnds(0, 0))
    subs = _collections(session, collection, limits[1], ordered, skipped)
    if ordered:
        yield from heapq.merge(objects, subs, key=lambda entry: entry[0])
    else:
        yield from sorted([*objects, *subs], key=lambda entry: entry[0])


def _ordered_batches(make_query: Callable[[], Any], collection: str, after: str | None,
                     ends: BatchEnds) -> Iterator[list[Any]]:
    """The rows of ``make_query()`` (objects of ``collection``) after ``after`` in name order, a batch at a
    time: known ranges first (one query each), then one stream to the end that notes where its batches end.
    Each query is made afresh: python-irodsclient's ``filter`` adds its criteria to the query it was called on
    too (``test_a_filter_also_changes_the_query_it_was_called_on``)."""
    from irods.models import DataObject

    lower, inclusive = (None, False) if after is None else safe_bound(after)

    def bounded() -> Any:
        query = make_query()
        return query if lower is None else query.filter(DataObject.name >= lower if inclusive else
                                                         DataObject.name > lower)

    while True:
        end = ends.after(collection, lower)
        if end is not None:
            yield genquery.rows(bounded().filter(DataObject.name <= end).order_by(DataObject.name))
            lower, inclusive = end, False
            continue
        for rows in genquery.batches(bounded().order_by(DataObject.name), BATCH):
            if len(rows) == BATCH and not safe_bound(rows[-1][DataObject.name])[1]:
                ends.note(collection, rows[-1][DataObject.name])
            yield rows
        return


def _objects(session: Any, service: Callable[[], Any] | None, collection: str, after: str | None, ordered: bool,
             skipped: Callable[[str, InvalidPath], None], ends: BatchEnds) -> Iterator[Entry]:
    from irods.models import Collection, DataObject

    def make_query() -> Any:
        return session.query(DataObject.name, DataObject.size, DataObject.modify_time, DataObject.checksum,
                             DataObject.replica_status).filter(Collection.name == collection)

    batches = (_ordered_batches(make_query, collection, after, ends) if ordered
               else iter([genquery.rows(make_query())]))
    last: str | None = None
    for batch in batches:
        rows = good_rows(batch)
        names = [row[DataObject.name] for row in rows]
        kept = _layouts(service, collection, names, whole=not ordered) if rows else {}
        entries: list[Entry] = []
        for row in rows:
            name = row[DataObject.name]
            if name == last:
                continue  # one row per good replica: the first one describes the object
            last = name
            try:
                path = paths.join(collection, name)
            except InvalidPath as err:
                skipped(collection, err)
                continue
            size, modified = int(row[DataObject.size] or 0), row.get(DataObject.modify_time)
            layout = None if modified is None else layouts.decode(kept.get(name), size, int(modified.timestamp()))
            entries.append((paths.listing_key(path, False), ObjectInfo(
                path=path, is_collection=False, size=size, modified_at=modified,
                etag=layout.etag if layout else etag_of(row.get(DataObject.checksum), size, modified))))
        if not ordered:
            last = None  # unordered rows: replicas need not be neighbours
            unique: dict[bytes, ObjectInfo] = {}
            for key, info in entries:
                unique.setdefault(key, info)
            entries = list(unique.items())
        yield from entries


def _layouts(service: Callable[[], Any] | None, collection: str, names: list[str], *, whole: bool) -> dict[str, str]:
    """The ``s3.layout`` values of ``names`` in ``collection`` (one query over their name range, or over the
    whole collection)."""
    if service is None:
        return {}
    if whole:
        return layouts.read_collection(service(), collection)
    low, _ = safe_bound(min(names))
    high, high_cut = safe_bound(max(names))
    # A cut upper bound still covers every name it began: nothing sorts after the highest code point.
    return layouts.read_range(service(), collection, low, high + "\U0010ffff" if high_cut else high)


def _collections(session: Any, collection: str, start: str | None, ordered: bool,
                 skipped: Callable[[str, InvalidPath], None]) -> Iterator[Entry]:
    from irods.models import Collection

    query = session.query(Collection.name, Collection.modify_time).filter(Collection.parent_name == collection)
    if ordered:
        if start is not None:
            bound, _ = safe_bound(start)
            query = query.filter(Collection.name >= collection.rstrip("/") + "/" + bound)
        query = query.order_by(Collection.name)
        batches = genquery.batches(query, BATCH)
    else:
        batches = iter([genquery.rows(query)])
    order = CollectionOrder()
    for rows in batches:
        infos: list[ObjectInfo] = []
        for row in rows:
            name = row[Collection.name]
            if name == collection or not paths.is_within(collection, name):
                continue
            try:
                paths.join(collection, paths.basename(name))
            except InvalidPath as err:
                skipped(collection, err)
                continue
            infos.append(ObjectInfo(path=name, is_collection=True, modified_at=row.get(Collection.modify_time)))
        yield from order.add(infos)
    yield from order.rest()
