"""The embedded backend's SQLite catalogue: tickets and their allow-lists, users, groups, the index of the zone,
S3 object metadata and the collections writes created implicitly.

SQLite in WAL mode, so readers never wait for a writer. Every write runs in a ``BEGIN IMMEDIATE`` transaction:
the write lock is taken *before* a count is read, so two threads or two processes sharing the data directory
can never both see "one use left" (a limit of N is never overshot). Connections come from a small pool, one
connection per concurrent caller, each used by one thread at a time.

Writers queue for SQLite's lock through ``<catalogue>.writelock``: a thread lock in the process, then an exclusive
``flock`` on that file across processes. SQLite itself polls a busy lock with sleeps of up to 100 ms (its busy
handler), which is what the tail latency of concurrent writes was made of; the thread lock hands over at once and
the ``flock`` is tried at most a millisecond apart. Both give up after the busy timeout ("retry later"), as
SQLite does. Writers that do not take it (another program on the database) still meet SQLite's busy timeout.

:meth:`Catalog.commit` is the group commit: concurrent callers' pieces of work run one after another in one
write transaction, each in a savepoint of its own (one failing rolls back only itself), and share its single
``COMMIT`` (one WAL fsync, ``synchronous=FULL``) instead of paying one each. A caller returns only after that
commit, so what it wrote is as durable as before.

Times are stored as integer microseconds since the Unix epoch (UTC) so they compare in SQL.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from ...errors import BackendError, BackendUnavailable
from ...model import Access, TargetKind, Ticket, TicketStatus
from ...privatefiles import FILE_MODE
from ..base import ObjectMetadata

__all__ = ["Catalog", "PageFilter", "to_micros", "from_micros"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_IDLE = 8
_BUSY_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
    string           TEXT NOT NULL UNIQUE,
    path             TEXT NOT NULL,
    target_kind      TEXT NOT NULL,
    access           TEXT NOT NULL,
    owner            TEXT NOT NULL,
    anonymous        INTEGER NOT NULL,
    uses_limit       INTEGER NOT NULL DEFAULT 0,
    uses_count       INTEGER NOT NULL DEFAULT 0,
    write_file_limit INTEGER NOT NULL DEFAULT 0,
    write_file_count INTEGER NOT NULL DEFAULT 0,
    write_byte_limit INTEGER NOT NULL DEFAULT 0,
    write_byte_count INTEGER NOT NULL DEFAULT 0,
    expires_at       INTEGER,
    created_at       INTEGER NOT NULL,
    modified_at      INTEGER NOT NULL,
    label            TEXT
);
CREATE INDEX IF NOT EXISTS tickets_owner_id ON tickets (owner, id);
CREATE INDEX IF NOT EXISTS tickets_path_id ON tickets (path, id);
CREATE TABLE IF NOT EXISTS ticket_allow (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('user', 'group', 'host')),
    position  INTEGER NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, kind, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ticket_allow_value ON ticket_allow (kind, value, ticket_id);
CREATE TABLE IF NOT EXISTS users (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (
    grp    TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    member TEXT NOT NULL,
    PRIMARY KEY (grp, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_members_member ON group_members (member, grp);
-- When each key pair (ticket, holder) last made a granted request: the use window (policy.continues_use).
CREATE TABLE IF NOT EXISTS key_requests (
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    holder       TEXT NOT NULL,
    last_request INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, holder)
) WITHOUT ROWID;
-- The ordered index of the zone (see index.py): a collection's key ends with "/", so key order is S3 order.
CREATE TABLE IF NOT EXISTS tree (
    key      TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    md5      TEXT
) WITHOUT ROWID;
-- S3 object metadata (system headers and x-amz-meta-*) as JSON, by logical path of the data object.
CREATE TABLE IF NOT EXISTS object_meta (
    path     TEXT PRIMARY KEY,
    meta     TEXT NOT NULL
) WITHOUT ROWID;
-- Collections a write created as missing parents: removed again when their last object goes (no phantom prefix).
CREATE TABLE IF NOT EXISTS implicit_collections (
    path     TEXT PRIMARY KEY
) WITHOUT ROWID;
-- How the gateway wrote an object (base.ObjectLayout as JSON), valid while tree.md5 holds its etag.
CREATE TABLE IF NOT EXISTS layouts (
    path   TEXT PRIMARY KEY,
    etag   TEXT NOT NULL,
    layout TEXT NOT NULL
) WITHOUT ROWID;
"""
# Before the index, checksums lived in "objects"; they carry over (collections appear with the first pass).
_MIGRATIONS = (
    ("objects", "INSERT OR IGNORE INTO tree (key, size, mtime_ns, md5) SELECT path, size, mtime_ns, md5 FROM objects"),
    ("objects", "DROP TABLE objects"),
)

_COLUMNS = (
    "id, string, path, target_kind, access, owner, uses_limit, uses_count, write_file_limit, write_file_count, "
    "write_byte_limit, write_byte_count, expires_at, created_at, modified_at, label"
)
_ALLOW_KINDS = ("user", "group", "host")

# Status as SQL, judged at :now (the same rule as policy.ticket_status).
_EXPIRED = "(t.expires_at IS NOT NULL AND t.expires_at <= :now)"
_USED_UP = "(t.uses_limit > 0 AND t.uses_count >= t.uses_limit)"
_STATUS_SQL = {
    TicketStatus.EXPIRED: _EXPIRED,
    TicketStatus.EXHAUSTED: f"(NOT {_EXPIRED} AND {_USED_UP})",
    TicketStatus.ACTIVE: f"(NOT {_EXPIRED} AND NOT {_USED_UP})",
}


def to_micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


class _Work(Generic[T]):
    """One caller's piece of a group commit: what to run, and what came of it once the group committed."""

    __slots__ = ("run", "done", "lead", "result", "error")

    def __init__(self, run: Callable[[sqlite3.Connection], T]) -> None:
        self.run = run
        self.done = threading.Event()
        self.lead = False  # set (with done) when this caller is to commit the next group
        self.result: T | None = None
        self.error: BaseException | None = None


@dataclass(frozen=True)
class PageFilter:
    """A resolved ``list_tickets`` request: every field already checked against the caller's rights."""

    owner: str | None
    shared_with: str | None
    path: str | None
    anonymous: bool | None
    status: TicketStatus | None
    after_id: int
    limit: int
    now: datetime


class Catalog:
    """The catalogue database at ``path``. Use :meth:`read` / :meth:`write` to get a connection in a transaction."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # SQLite creates a new database 0644 (less the umask) and gives its -wal and -shm files the database
        # file's mode: creating it 0600 first keeps all three private.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
        # Re-entrant: a write opened inside another on the same thread meets SQLite's busy timeout, as it did.
        self._write_lock = threading.RLock()
        self._writing = threading.local()  # .depth: this thread's writes in progress
        self._write_fd = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        self._queue: list[_Work[Any]] = []
        self._queue_lock = threading.Lock()
        self._leading = False
        with self._connection() as conn:
            # WAL is a property of the database file; switching needs a moment alone with it.
            with _mapped_errors():
                conn.execute("PRAGMA journal_mode=WAL")
        with self.write() as conn:
            # One statement at a time: executescript() would COMMIT the IMMEDIATE transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table, statement in _MIGRATIONS:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                    conn.execute(statement)

    # -- connections ---------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        with _mapped_errors():
            conn = sqlite3.connect(
                self._path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise BackendUnavailable("the catalogue is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed and len(self._idle) < _MAX_IDLE
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            with _mapped_errors():
                conn.execute(begin)
            try:
                with _mapped_errors():
                    yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            with _mapped_errors():
                conn.execute("COMMIT")

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of one read statement, which is a consistent snapshot by itself (no BEGIN/COMMIT)."""
        with self._connection() as conn, _mapped_errors():
            return conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]

    def read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A connection in a read transaction: one consistent snapshot for several queries."""
        return self._transaction("BEGIN")

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A connection holding the write lock (``BEGIN IMMEDIATE``); committed on success, rolled back on error."""
        if not self._write_lock.acquire(timeout=_BUSY_TIMEOUT):
            raise BackendUnavailable("the catalogue is busy; retry later")
        try:
            outermost = not getattr(self._writing, "depth", 0)
            held = outermost and self._hold_file_lock()
            self._writing.depth = getattr(self._writing, "depth", 0) + 1
            try:
                with self._transaction("BEGIN IMMEDIATE") as conn:
                    yield conn
            finally:
                self._writing.depth -= 1
                if held:
                    fcntl.flock(self._write_fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _hold_file_lock(self) -> bool:
        """Take the cross-process writer lock; ``False`` where it cannot be had (SQLite's own lock remains).

        Polled without blocking, at most a millisecond apart, so a writer that hangs makes the others give up
        after the busy timeout ("retry later") as SQLite's own lock did, rather than wait for ever.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._write_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BackendUnavailable("the catalogue is busy; retry later") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
            except OSError as err:  # closed under us, or a file system without flock
                if self._closed:
                    raise BackendUnavailable("the catalogue is closed") from err
                return False

    def commit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction shared with concurrent callers (group commit); its result.

        ``work`` runs on whichever caller's thread commits the group, after the works queued before it, in a
        savepoint of its own: what it raises is raised here and undoes only its own changes. It returns once the
        group's ``COMMIT`` is done; a failed ``COMMIT`` (or ``BEGIN``) is raised to every caller in the group.
        ``work`` must not itself wait for another caller's commit.
        """
        item: _Work[T] = _Work(work)
        with self._queue_lock:
            self._queue.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item.done.wait()
            lead = item.lead
        if lead:
            self._lead_group()
            item.done.wait()  # it was in the group just committed
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def _lead_group(self) -> None:
        """Commit what is queued as one transaction, then hand the lead to the first caller queued meanwhile."""
        with self._queue_lock:
            group, self._queue = self._queue, []
        try:
            with self.write() as conn:
                for item in group:
                    conn.execute("SAVEPOINT work")
                    try:
                        with _mapped_errors():
                            item.result = item.run(conn)
                    except BaseException as err:  # noqa: BLE001 - handed to its caller, the group goes on
                        conn.execute("ROLLBACK TO work")
                        item.error = err
                    conn.execute("RELEASE work")
        except BaseException as err:  # noqa: BLE001 - nothing of the group is committed: each caller learns why
            for item in group:
                item.error = item.error or err
        finally:
            with self._queue_lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._leading = False
            for item in group:
                item.done.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        with self._write_lock:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)

    # -- tickets -------------------------------------------------------------------------------------------

    @staticmethod
    def insert_ticket(conn: sqlite3.Connection, ticket: Ticket) -> int:
        """Insert ``ticket`` (its ``id`` is ignored) and its allow-lists; return the new id.

        ``sqlite3.IntegrityError`` when the ticket string is taken (the caller draws another).
        """
        cursor = conn.execute(
            "INSERT INTO tickets (string, path, target_kind, access, owner, anonymous, uses_limit, uses_count,"
            " write_file_limit, write_file_count, write_byte_limit, write_byte_count, expires_at, created_at,"
            " modified_at, label) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, 0, ?, ?, ?, ?)",
            (
                ticket.string, ticket.path, ticket.target_kind.value, ticket.access.value, ticket.owner,
                int(ticket.anonymous), ticket.uses_limit, ticket.write_file_limit, ticket.write_byte_limit,
                None if ticket.expires_at is None else to_micros(ticket.expires_at),
                to_micros(ticket.created_at or _EPOCH), to_micros(ticket.modified_at or _EPOCH), ticket.label,
            ),
        )
        ticket_id = int(cursor.lastrowid or 0)
        Catalog.replace_allow_lists(conn, ticket_id, users=ticket.users, groups=ticket.groups, hosts=ticket.hosts)
        return ticket_id

    @staticmethod
    def replace_allow_lists(
        conn: sqlite3.Connection,
        ticket_id: int,
        *,
        users: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
        hosts: Sequence[str] | None = None,
    ) -> None:
        """Replace the allow-lists given (``None``: leave that list as it is), keeping their order."""
        for kind, values in zip(_ALLOW_KINDS, (users, groups, hosts), strict=True):
            if values is None:
                continue
            conn.execute("DELETE FROM ticket_allow WHERE ticket_id = ? AND kind = ?", (ticket_id, kind))
            conn.executemany(
                "INSERT INTO ticket_allow (ticket_id, kind, position, value) VALUES (?, ?, ?, ?)",
                [(ticket_id, kind, position, value) for position, value in enumerate(values)],
            )

    def get_ticket(self, conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return None if row is None else self._hydrate(conn, [row])[0]

    def get_ticket_by_string(self, conn: sqlite3.Connection, string: str) -> Ticket | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM tickets WHERE string = ?", (string,)).fetchone()
        return None if row is None else self._hydrate(conn, [row])[0]

    def page(self, conn: sqlite3.Connection, flt: PageFilter) -> list[Ticket]:
        """Up to ``flt.limit`` tickets with ``id > flt.after_id`` matching ``flt``, in ascending id order.

        Pages are keyset-paginated (``id > after``, never OFFSET). Owner lists (the default) walk the
        ``(owner, id)`` index and admin lists the primary key, in id order, so a page costs the same however many
        tickets exist; ``shared_with`` starts from the allow-list index, ``path`` from ``(path, id)``.
        """
        where = ["t.id > :after"]
        params: dict[str, Any] = {"after": flt.after_id, "limit": flt.limit, "now": to_micros(flt.now)}
        if flt.owner is not None:
            where.append("t.owner = :owner")
            params["owner"] = flt.owner
        if flt.shared_with is not None:
            # Tickets whose allow-lists name the user or one of their groups; the user's own tickets are
            # theirs, not shared with them.
            where.append(
                "t.id IN (SELECT a.ticket_id FROM ticket_allow a WHERE a.kind = 'user' AND a.value = :shared"
                " UNION SELECT a.ticket_id FROM ticket_allow a JOIN group_members m"
                " ON a.kind = 'group' AND a.value = m.grp WHERE m.member = :shared)"
            )
            where.append("t.owner <> :shared")
            params["shared"] = flt.shared_with
        if flt.path is not None:
            # Segment-boundary prefix as a range ('/' + 1 == '0' in byte order): no LIKE, so '%' and '_'
            # in paths are plain characters.
            where.append("(t.path = :path OR (t.path >= :path || '/' AND t.path < :path || '0'))")
            params["path"] = flt.path
        if flt.anonymous is not None:
            where.append("t.anonymous = :anonymous")
            params["anonymous"] = int(flt.anonymous)
        if flt.status is not None:
            where.append(_STATUS_SQL[flt.status])
        sql = f"SELECT {_COLUMNS} FROM tickets t WHERE {' AND '.join(where)} ORDER BY t.id LIMIT :limit"
        rows = conn.execute(sql, params).fetchall()
        return self._hydrate(conn, rows)

    @staticmethod
    def update_ticket(conn: sqlite3.Connection, ticket_id: int, fields: dict[str, Any]) -> None:
        """Set the named columns (datetimes converted); column names come from code, never from input."""
        if not fields:
            return
        values = {k: (to_micros(v) if isinstance(v, datetime) else v) for k, v in fields.items()}
        assignments = ", ".join(f"{name} = ?" for name in values)
        conn.execute(f"UPDATE tickets SET {assignments} WHERE id = ?", (*values.values(), ticket_id))

    @staticmethod
    def delete_ticket(conn: sqlite3.Connection, ticket_id: int) -> bool:
        return conn.execute("DELETE FROM tickets WHERE id = ?", (ticket_id,)).rowcount > 0

    @staticmethod
    def count_use(conn: sqlite3.Connection, ticket_id: int) -> None:
        conn.execute("UPDATE tickets SET uses_count = uses_count + 1 WHERE id = ?", (ticket_id,))

    @staticmethod
    def last_request(conn: sqlite3.Connection, ticket_id: int, holder: str) -> datetime | None:
        row = conn.execute("SELECT last_request FROM key_requests WHERE ticket_id = ? AND holder = ?",
                           (ticket_id, holder)).fetchone()
        return None if row is None else from_micros(row[0])

    @staticmethod
    def record_request(conn: sqlite3.Connection, ticket_id: int, holder: str, now: datetime) -> None:
        # max(): a request judged with an earlier clock (another instance) never moves the window back.
        conn.execute(
            "INSERT INTO key_requests (ticket_id, holder, last_request) VALUES (?, ?, ?) "
            "ON CONFLICT (ticket_id, holder) DO UPDATE SET last_request = max(last_request, excluded.last_request)",
            (ticket_id, holder, to_micros(now)),
        )

    @staticmethod
    def count_write(conn: sqlite3.Connection, ticket_id: int, nbytes: int) -> None:
        conn.execute(
            "UPDATE tickets SET write_file_count = write_file_count + 1, write_byte_count = write_byte_count + ?"
            " WHERE id = ?",
            (nbytes, ticket_id),
        )

    @staticmethod
    def _hydrate(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[Ticket]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        allow: dict[int, dict[str, list[str]]] = {i: {k: [] for k in _ALLOW_KINDS} for i in ids}
        marks = ", ".join("?" * len(ids))
        for ticket_id, kind, value in conn.execute(
            f"SELECT ticket_id, kind, value FROM ticket_allow WHERE ticket_id IN ({marks})"
            " ORDER BY ticket_id, kind, position",
            ids,
        ):
            allow[ticket_id][kind].append(value)
        tickets = []
        for row in rows:
            lists = allow[row[0]]
            tickets.append(
                Ticket(
                    id=row[0], string=row[1], path=row[2], target_kind=TargetKind(row[3]), access=Access(row[4]),
                    owner=row[5], users=tuple(lists["user"]), groups=tuple(lists["group"]),
                    hosts=tuple(lists["host"]), uses_limit=row[6], uses_count=row[7], write_file_limit=row[8],
                    write_file_count=row[9], write_byte_limit=row[10], write_byte_count=row[11],
                    expires_at=from_micros(row[12]), created_at=from_micros(row[13]),
                    modified_at=from_micros(row[14]), label=row[15],
                )
            )
        return tickets

    # -- users and groups ----------------------------------------------------------------------------------

    @staticmethod
    def add_user(conn: sqlite3.Connection, name: str, now: datetime) -> None:
        conn.execute("INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)", (name, to_micros(now)))

    @staticmethod
    def add_group(conn: sqlite3.Connection, name: str, members: Iterable[str], *, exact: bool) -> None:
        """Create group ``name`` if absent and add ``members``; with ``exact`` the members become exactly these."""
        conn.execute("INSERT OR IGNORE INTO groups (name) VALUES (?)", (name,))
        if exact:
            conn.execute("DELETE FROM group_members WHERE grp = ?", (name,))
        conn.executemany(
            "INSERT OR IGNORE INTO group_members (grp, member) VALUES (?, ?)", [(name, m) for m in members]
        )

    @staticmethod
    def groups_of(conn: sqlite3.Connection, user: str) -> frozenset[str]:
        return frozenset(r[0] for r in conn.execute("SELECT grp FROM group_members WHERE member = ?", (user,)))

    @staticmethod
    def missing_groups(conn: sqlite3.Connection, names: Iterable[str]) -> list[str]:
        return [n for n in names if conn.execute("SELECT 1 FROM groups WHERE name = ?", (n,)).fetchone() is None]

    # -- object metadata (S3 system headers and x-amz-meta-*) ---------------------------------------------

    @staticmethod
    def object_metadata(conn: sqlite3.Connection, path: str) -> ObjectMetadata:
        row = conn.execute("SELECT meta FROM object_meta WHERE path = ?", (path,)).fetchone()
        return ObjectMetadata() if row is None else ObjectMetadata.from_dict(json.loads(row[0]))

    @staticmethod
    def put_metadata(conn: sqlite3.Connection, path: str, metadata: ObjectMetadata | None) -> None:
        """Replace the metadata of ``path`` (``None`` or empty: it has none)."""
        conn.execute("DELETE FROM object_meta WHERE path = ?", (path,))
        if metadata:
            conn.execute("INSERT INTO object_meta (path, meta) VALUES (?, ?)",
                         (path, json.dumps(metadata.to_dict(), sort_keys=True)))

    # -- collections a write created implicitly ----------------------------------------------------------

    @staticmethod
    def mark_implicit(conn: sqlite3.Connection, collections: Iterable[str]) -> None:
        conn.executemany("INSERT OR IGNORE INTO implicit_collections (path) VALUES (?)",
                         [(path,) for path in collections])

    @staticmethod
    def is_implicit(conn: sqlite3.Connection, path: str) -> bool:
        return conn.execute("SELECT 1 FROM implicit_collections WHERE path = ?", (path,)).fetchone() is not None

    @staticmethod
    def forget_collection(conn: sqlite3.Connection, path: str) -> None:
        conn.execute("DELETE FROM implicit_collections WHERE path = ?", (path,))


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn driver errors into backend errors; a busy database after the timeout is "retry later"."""
    try:
        yield
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise BackendUnavailable("the catalogue is busy; retry later") from err
        raise BackendError("the catalogue failed") from err
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as err:
        raise BackendError("the catalogue failed") from err
