"""A test double of an iRODS zone at python-irodsclient's boundary.

:class:`FakeZone` holds users, groups, collections, data objects and tickets; ``zone.session_factory`` stands in
for ``irods.session.iRODSSession``. The *real* ``irods.ticket.Ticket`` class talks to it: it sends real
``TicketAdminRequest`` messages over :class:`FakeConnection`, whose ``recv`` raises what the real client raises,
through the real ``irods.exception.get_exception_by_code`` (so -893000..-897000 surface as a bare ``KeyError``).
Queries use the real ``irods.models`` columns and ``irods.column`` criteria, evaluated here.

Behaviour follows what was observed on iRODS 5.0.2 + python-irodsclient 3.3.0 (docs/irods.md, pinned against the
real server by tests/backends/test_irods_observed.py): proxied sessions act as ``client_user``; only the owner
issues tickets on a path (-818000; missing path -814000); a new ticket has ``write_file_limit`` 10; the byte-limit
keyword is ``write-bytes`` (``write-byte`` is -816000); a ticket is checked (target, expiry, allow-lists, uses) and
its uses counted only when a data object is opened or a collection created through it, never for a stat or a
query, and counted only while its limit is above 0 (an open +1 use; a new object +2 uses and +2 write files, a
replace +1 and +1; each object once per connection; bytes only with a byte limit); restrictions give -893000/-894000/-895000, expiry -891000, exhausted uses
-892000, exhausted write files -896000 (checked before counting); through a ticket a collection or object can be
created only directly inside the ticket's collection (-818000 deeper), and it belongs to the writer; deleting
someone else's ticket gives -890000 unless a rodsadmin passes ``ADMIN_KW``; queries by a non-proxied rodsadmin
see every ticket, proxied ones only the user's own; a TicketQuery filter on a data object's collection without a
condition on its name is -806000; ``Query.all()`` returns at most 500 rows (``get_results()`` pages through all);
creating an existing collection without ``recurse`` is -809000; a checksum is stored only when the writer asks
(``VERIFY_CHKSUM_KW`` with the MD5).
Metadata (AVUs) goes through the real ``MetadataManager`` as ``MOD_AVU_METADATA_AN`` requests: only the owner
changes an object's AVUs, or a rodsadmin with ``ADMIN_KW`` (as ``imeta -M``); AVUs survive an overwrite of the
object's content. A ticket's allowed hosts are compared with the address of the connecting client, which for
TicketBooth is ``zone.gateway_address``.
Every ticket admin request, AVU request and query is recorded in ``zone.calls`` / ``zone.queries``;
``zone.batches_sent`` counts the GenQuery batches the client read (each a round trip on a real zone).
Outages as observed (tests/e2e/test_zone_outage.py pins them on a private real zone): :meth:`FakeZone.stop` makes
every connection fail (``NetworkException``: a new one "Could not connect", a request on an open one "Could not
receive server response", writing to an open handle "Unable to send message") and leaves an object that was being
written as a *stale* replica (``replica_status`` '0') holding what had arrived; after :meth:`FakeZone.start`, the
first request on each connection opened before the stop still fails ("Could not receive server response", and
the pool drops it), while new connections work. A replica being written is '2', a complete one '1'.
"""
from __future__ import annotations

import base64
import hashlib
import io
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from irods import keywords as kw
from irods.api_number import api_number
from irods.column import Criterion, In
from irods.exception import (
    CollectionDoesNotExist,
    DataObjectDoesNotExist,
    MultipleResultsFound,
    NetworkException,
    NoResultFound,
    get_exception_by_code,
)
from irods.manager.metadata_manager import MetadataManager
from irods.message import TicketAdminRequest
from irods.models import Collection, CollectionMeta, DataObject, DataObjectMeta, Group, TicketQuery, User
from irods.ticket import Ticket as IrodsTicket

CAT_SQL_ERR = -806000
CAT_NO_ROWS_FOUND = -808000
CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME = -809000
USER_CHKSUM_MISMATCH = -314000
#: python-irodsclient's IRODS_QUERY_LIMIT: the rows one GenQuery (Query.all()) returns at most.
QUERY_ROW_LIMIT = 500
CAT_UNKNOWN_COLLECTION = -814000
CAT_INVALID_ARGUMENT = -816000
CAT_COLLECTION_NOT_EMPTY = -821000
CAT_UNKNOWN_FILE = -817000
CAT_NO_ACCESS_PERMISSION = -818000
CAT_COLLECTION_NOT_EMPTY = -821000
CAT_INVALID_AUTHENTICATION = -826000
CAT_INVALID_USER = -827000
CAT_INVALID_GROUP = -829000
SYS_PROXYUSER_NO_PRIV = -39000
CAT_TICKET_INVALID = -890000
CAT_TICKET_EXPIRED = -891000
CAT_TICKET_USES_EXCEEDED = -892000
CAT_TICKET_USER_EXCLUDED = -893000
CAT_TICKET_HOST_EXCLUDED = -894000
CAT_TICKET_GROUP_EXCLUDED = -895000
CAT_TICKET_WRITE_USES_EXCEEDED = -896000
CAT_TICKET_WRITE_BYTES_EXCEEDED = -897000

_TICKET_MODELS = tuple(vars(TicketQuery)[n] for n in
                       ("Ticket", "DataObject", "Collection", "Owner", "AllowedHosts", "AllowedUsers", "AllowedGroups"))


class IrodsError(Exception):
    """Raised inside the double; FakeConnection.recv turns it into what python-irodsclient raises."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Row:
    id: int
    string: str
    type: str
    object_type: str
    path: str
    owner: str
    created: datetime
    modified: datetime
    uses_limit: int = 0
    uses_count: int = 0
    write_file_limit: int = 10  # iRODS's default for every new ticket
    write_file_count: int = 0
    write_byte_limit: int = 0
    write_byte_count: int = 0
    expiry_ts: str = ""
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class Obj:
    id: int
    owner: str
    data: bytes
    modified: datetime
    avus: dict[str, str] = field(default_factory=dict)  # attribute -> value (one value per attribute here)
    checksum: str | None = None  # only when the writer asked for one
    replica_status: str = "1"  # '1' good, '2' being written, '0' stale (a write the server's stop cut short)


@dataclass(frozen=True)
class Call:
    """One ticket admin request as the server received it."""

    user: str  # the authenticated (proxy) user
    client_user: str  # who the server acts as
    command: str
    args: tuple[str, ...]
    options: dict[str, str]
    connection: int


class FakeZone:
    """An iRODS zone in memory. ``admin``/``password`` is the rodsadmin service account."""

    def __init__(self, zone: str = "tempZone", *, admin: str = "rods", password: str = "rodspw",
                 clock: Callable[[], datetime] | None = None, gateway_address: str = "127.0.0.1") -> None:
        self.zone = zone
        self.admin = admin
        self.password = password
        self.clock = clock or (lambda: datetime.now(UTC))
        self.gateway_address = gateway_address
        self.users: dict[str, str] = {admin: "rodsadmin", "anonymous": "rodsuser"}
        self.groups: dict[str, set[str]] = {"public": set()}
        self.collections: dict[str, Obj] = {}
        self.objects: dict[str, Obj] = {}
        self.tickets: dict[int, Row] = {}
        self.calls: list[Call] = []
        self.queries: list[dict[str, Any]] = []
        self.batches_sent = 0  # GenQuery batches handed to the client: each one a round trip on a real zone
        self.rows_sent = 0  # the rows in them
        self.sessions: list[FakeSession] = []
        self.connections_opened = 0
        self.down = False
        self.epoch = 0  # bumped by stop(): connections opened before it are dead
        self.writing: dict[str, _WriteHandle] = {}  # objects open for writing, by path
        # One server-side operation at a time (the real catalog serialises what it must with transactions and
        # unique indexes; e.g. only one of two concurrent creates of a collection wins).
        self.lock = threading.RLock()
        self._faults: list[tuple[Callable[[Call], bool], int]] = []
        self._outages: list[tuple[Callable[[Call], bool], bool]] = []
        #: Stop the server once an open write handle has received this many bytes (see stop()).
        self.stop_after_bytes: int | None = None
        self._ids = itertools.count(10000)
        self._ticket_ids = itertools.count(10040)
        for path in (f"/{zone}", f"/{zone}/home", f"/{zone}/trash"):
            self.collections[path] = Obj(next(self._ids), admin, b"", self.stamp())
        self.add_user(admin, "rodsadmin")

    # -- set-up helpers (what an admin would do with iadmin / icommands) ------------------------------------

    def add_user(self, name: str, kind: str = "rodsuser") -> None:
        self.users[name] = kind
        self.groups["public"].add(name)
        home = f"/{self.zone}/home/{name}"
        self.collections.setdefault(home, Obj(next(self._ids), name, b"", self.stamp()))

    def add_group(self, name: str, members: list[str]) -> None:
        self.users[name] = "rodsgroup"
        self.groups[name] = set(members)

    def make_collection(self, path: str, owner: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            self.collections.setdefault(sub, Obj(next(self._ids), owner, b"", self.stamp()))

    def put(self, path: str, data: bytes, owner: str, *, checksum: bool = True) -> None:
        """Store ``path`` as ``owner`` (replacing any object there, keeping its AVUs, as ``iput -f``); with
        ``checksum`` its MD5 is registered (as the real fixture does), without it none (``iput`` without ``-k``)."""
        self.make_collection(path.rpartition("/")[0], owner)
        old = self.objects.get(path)
        self.objects[path] = Obj(old.id if old else next(self._ids), owner, data, self.stamp(),
                                 dict(old.avus) if old else {}, checksum=_md5(data) if checksum else None)

    def stamp(self) -> datetime:
        """The catalogue's time for a modification now: iRODS keeps modify times in whole seconds."""
        return self.clock().replace(microsecond=0)

    def avus(self, path: str) -> dict[str, str]:
        """The AVUs on the collection or data object at ``path`` (for assertions)."""
        entry = self.collections.get(path) or self.objects.get(path)
        return {} if entry is None else dict(entry.avus)

    def modify_avu(self, conn: FakeConnection, msg: Any) -> None:
        """``imeta`` as the server does it for MOD_AVU_METADATA_AN (set, add, rm on -C and -d)."""
        kv = msg.KeyValPair_PI
        options = dict(zip(kv.keyWord or [], kv.svalue or [], strict=True)) if kv.ssLen else {}
        op, kind, path, attribute, value = (msg.arg0, msg.arg1, msg.arg2, msg.arg3, msg.arg4)
        call = Call(conn.session.user, conn.session.client_user, f"avu:{op}", (kind, path, attribute, value or ""),
                    options, conn.number)
        self.calls.append(call)
        self._outage(conn, call)
        for i, (predicate, code) in enumerate(self._faults):
            if predicate(call):
                del self._faults[i]
                raise IrodsError(code)
        table = {"-C": self.collections, "-d": self.objects}.get(kind)
        if table is None:
            raise IrodsError(CAT_INVALID_ARGUMENT)
        entry = table.get(path)
        if entry is None:
            raise IrodsError(CAT_UNKNOWN_COLLECTION if kind == "-C" else CAT_UNKNOWN_FILE)
        session = conn.session
        is_admin = self.users.get(session.user) == "rodsadmin" and not session.proxied and kw.ADMIN_KW in options
        if entry.owner != session.client_user and not is_admin:
            raise IrodsError(CAT_NO_ACCESS_PERMISSION)
        if op in ("set", "add"):
            entry.avus[attribute] = value
        elif op == "rm":
            if entry.avus.get(attribute) != value:
                raise IrodsError(CAT_NO_ROWS_FOUND)
            del entry.avus[attribute]
        else:
            raise IrodsError(CAT_INVALID_ARGUMENT)

    def stop(self) -> None:
        """The server stops (stop-irods-zone.sh): connections die, objects being written are left stale."""
        with self.lock:
            self.down = True
            self.epoch += 1
            for path, handle in self.writing.items():
                obj = self.objects.get(path)
                if obj is not None:
                    obj.data, obj.replica_status = handle.getvalue(), "0"
            self.writing.clear()

    def start(self) -> None:
        """The server is back; connections opened before :meth:`stop` still fail once each."""
        self.down = False

    def stop_at(self, predicate: Callable[[Call], bool], *, applied: bool = False) -> None:
        """Stop the server at the next request matching ``predicate`` (once): before it is carried out, or with
        ``applied`` right after, so that only its answer is lost. The caller sees a ``NetworkException``."""
        self._outages.append((predicate, applied))

    def _outage(self, conn: FakeConnection, call: Call) -> None:
        for i, (predicate, applied) in enumerate(self._outages):
            if predicate(call):
                del self._outages[i]
                if not applied:
                    self.stop()
                    raise NetworkException("Could not receive server response")
                conn.dies_after_request = True
                return

    def fail(self, predicate: Callable[[Call], bool], code: int) -> None:
        """Make the next ticket admin request matching ``predicate`` fail with ``code`` (once)."""
        self._faults.append((predicate, code))

    def session_factory(self, **kwargs: Any) -> FakeSession:
        session = FakeSession(self, kwargs)
        self.sessions.append(session)
        return session

    def by_string(self, string: str) -> Row | None:
        return next((t for t in self.tickets.values() if t.string == string), None)

    # -- server logic ----------------------------------------------------------------------------------------

    def owner_of(self, path: str) -> str | None:
        entry = self.collections.get(path) or self.objects.get(path)
        return None if entry is None else entry.owner

    def ticket_admin(self, conn: FakeConnection, msg: TicketAdminRequest) -> None:
        args = tuple(getattr(msg, f"arg{i}") for i in range(1, 7))
        kv = msg.KeyValPair_PI
        options = dict(zip(kv.keyWord or [], kv.svalue or [], strict=True)) if kv.ssLen else {}
        command, string, rest = args[0], args[1], tuple(a for a in args[2:] if a != "")
        call = Call(conn.session.user, conn.session.client_user, command, (string, *rest), options, conn.number)
        if command != "session":
            self.calls.append(call)
            self._outage(conn, call)
        for i, (predicate, code) in enumerate(self._faults):
            if predicate(call):
                del self._faults[i]
                raise IrodsError(code)
        actor = conn.session.client_user
        now = self.clock()
        if command == "session":
            if self.by_string(string) is None:
                raise IrodsError(CAT_TICKET_INVALID)
            conn.ticket = string
            return
        if command == "create":
            access, path = rest[0], rest[1]
            owner = self.owner_of(path)
            if owner is None:
                raise IrodsError(CAT_UNKNOWN_COLLECTION)
            if owner != actor:
                raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            kind = "collection" if path in self.collections else "data"
            ident = next(self._ticket_ids)
            self.tickets[ident] = Row(ident, string, access, kind, path, actor, now, now)
            return
        row = self.by_string(string)
        is_admin = self.users.get(conn.session.user) == "rodsadmin" and actor == conn.session.user
        if row is None or (row.owner != actor and not (is_admin and kw.ADMIN_KW in options)):
            raise IrodsError(CAT_TICKET_INVALID)
        if command == "delete":
            del self.tickets[row.id]
            return
        if command != "mod":
            raise IrodsError(CAT_INVALID_ARGUMENT)
        what = rest[0]
        if what in ("uses", "write-file", "write-bytes"):
            attr = {"uses": "uses_limit", "write-file": "write_file_limit", "write-bytes": "write_byte_limit"}[what]
            setattr(row, attr, int(rest[1]))
        elif what == "expire":
            seconds = int(rest[1])
            row.expiry_ts = "" if seconds == 0 else f"{seconds:011d}"
        elif what in ("add", "remove"):
            kind, name = rest[1], rest[2]
            target = {"user": row.users, "group": row.groups, "host": row.hosts}[kind]
            if what == "add":
                if kind == "user" and self.users.get(name) not in ("rodsuser", "rodsadmin"):
                    raise IrodsError(CAT_INVALID_USER)
                if kind == "group" and name not in self.groups:
                    raise IrodsError(CAT_INVALID_GROUP)
                if name not in target:
                    target.append(name)
            elif name in target:
                target.remove(name)
        else:
            raise IrodsError(CAT_INVALID_ARGUMENT)
        row.modified = now

    def ticket_covers(self, conn: FakeConnection, path: str) -> bool:
        """What a stat or query sees through the ticket: its target and below, whatever its state (observed)."""
        row = self.by_string(conn.ticket)
        return row is not None and (path == row.path or path.startswith(row.path.rstrip("/") + "/"))

    def use_ticket(self, conn: FakeConnection, path: str, *, write: bool = False, uses: int = 1,
                   files: int = 0) -> Row:
        """The server's ticket check for opening ``path`` (or creating it) over ``conn``; counts ``uses`` uses and
        ``files`` write files, each only while its limit is above 0."""
        row = self.by_string(conn.ticket)
        if row is None or not self.ticket_covers(conn, path):
            raise IrodsError(CAT_TICKET_INVALID)
        if write and row.type != "write":
            raise IrodsError(CAT_NO_ACCESS_PERMISSION)
        if row.expiry_ts and int(row.expiry_ts) <= int(self.clock().timestamp()):
            raise IrodsError(CAT_TICKET_EXPIRED)
        user = conn.session.client_user
        if row.users or row.groups:
            in_groups = any(user in self.groups.get(g, ()) for g in row.groups)
            if user not in row.users and not in_groups:
                raise IrodsError(CAT_TICKET_GROUP_EXCLUDED if row.groups and not row.users else CAT_TICKET_USER_EXCLUDED)
        if row.hosts and self.gateway_address not in row.hosts:
            raise IrodsError(CAT_TICKET_HOST_EXCLUDED)
        if row.uses_limit and uses:
            if row.uses_count >= row.uses_limit:
                raise IrodsError(CAT_TICKET_USES_EXCEEDED)
            row.uses_count += uses
        if row.write_file_limit and files:
            if row.write_file_count >= row.write_file_limit:
                raise IrodsError(CAT_TICKET_WRITE_USES_EXCEEDED)
            row.write_file_count += files
        return row

    def may_create_in(self, conn: FakeConnection, parent: str) -> bool:
        """Whether ``conn`` may create something in the collection ``parent``."""
        session = conn.session
        if conn.ticket:
            row = self.by_string(conn.ticket)
            # Through a ticket: only directly inside the ticket's own collection (observed).
            return row is not None and row.object_type == "collection" and parent == row.path
        entry = self.collections.get(parent)
        admin = self.users.get(session.user) == "rodsadmin" and not session.proxied
        return entry is not None and (admin or entry.owner == session.client_user)


class FakeConnection:
    """A pooled connection: carries the ticket applied to it and whether its use was counted."""

    _numbers = itertools.count(1)

    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.number = next(self._numbers)
        self.epoch = session.zone.epoch
        self.ticket = ""
        self.opened: set[str] = set()  # objects opened over this connection: iRODS counts each once per connection
        self._pending: IrodsError | None = None
        self.dies_after_request = False  # FakeZone.stop_at(..., applied=True)

    def check_alive(self, message: str = "Could not receive server response") -> None:
        """Raise what python-irodsclient raises on a connection the server's stop killed (and drop it)."""
        if self.epoch != self.session.zone.epoch or self.session.zone.down:
            self.release(destroy=True)
            raise NetworkException(message)

    def send(self, message: Any) -> None:
        self.check_alive()
        try:
            if message.int_info == api_number["MOD_AVU_METADATA_AN"]:
                self.session.zone.modify_avu(self, message.msg)
            elif message.int_info == api_number["COLL_CREATE_AN"]:
                kv = message.msg.KeyValPair_PI
                options = dict(zip(kv.keyWord or [], kv.svalue or [], strict=True)) if kv.ssLen else {}
                with self.session.zone.lock:
                    self.session.collections.create_on(self, message.msg.collName,
                                                       recurse=kw.RECURSIVE_OPR__KW in options)
            else:
                self.session.zone.ticket_admin(self, message.msg)
        except IrodsError as err:
            self._pending = err
        if self.dies_after_request:
            self.dies_after_request = False
            self.session.zone.stop()
            self.check_alive()

    def recv(self) -> Any:
        pending, self._pending = self._pending, None
        if pending is not None:
            raise get_exception_by_code(pending.code, "double")  # KeyError for codes without a class
        return type("Reply", (), {"int_info": 0})()

    def release(self, destroy: bool = False) -> None:
        self.session.pool.release(self, destroy=destroy)

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FakePool:
    """Like ``irods.pool.Pool``: reuses idle connections and applies the session's ticket once per connection."""

    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.active: set[FakeConnection] = set()
        self.idle: set[FakeConnection] = set()
        self.all: list[FakeConnection] = []

    def get_connection(self) -> FakeConnection:
        zone = self.session.zone
        if zone.down:
            raise NetworkException("Could not connect to specified host and port")
        self.session.authenticate()
        if self.idle:
            conn = self.idle.pop()
        else:
            conn = FakeConnection(self.session)
            self.all.append(conn)
            zone.connections_opened += 1
        self.active.add(conn)
        if self.session.ticket__ and conn.ticket != self.session.ticket__:
            IrodsTicket._lowlevel_api_request(conn, "session", self.session.ticket__)
        return conn

    def release(self, conn: FakeConnection, destroy: bool = False) -> None:
        if conn in self.active:
            self.active.remove(conn)
            if not destroy:
                self.idle.add(conn)
        elif destroy:
            self.idle.discard(conn)


class FakeSession:
    """Stands in for ``iRODSSession(**kwargs)``."""

    def __init__(self, zone: FakeZone, kwargs: dict[str, Any]) -> None:
        self.zone = zone
        self.kwargs = dict(kwargs)
        if "irods_env_file" in kwargs:
            self.user, password = zone.admin, zone.password
        else:
            self.user, password = kwargs["user"], kwargs.get("password", "")
        self._password = password
        self.client_user = kwargs.get("client_user") or self.user
        self.ticket__ = ""
        self.pool = FakePool(self)
        self.collections = FakeCollections(self)
        self.data_objects = FakeDataObjects(self)
        self.metadata = MetadataManager(self)  # the real manager: it sends MOD_AVU_METADATA_AN requests
        self.cleaned_up = False

    def authenticate(self) -> None:
        zone = self.zone
        if self.user == "anonymous":
            return
        if self.user != zone.admin or self._password != zone.password:
            raise get_exception_by_code(CAT_INVALID_AUTHENTICATION, "double")
        if self.client_user != self.user and zone.users.get(self.user) != "rodsadmin":
            raise get_exception_by_code(SYS_PROXYUSER_NO_PRIV, "double")

    @property
    def proxied(self) -> bool:
        return self.client_user != self.user

    def query(self, *columns: Any) -> FakeQuery:
        return FakeQuery(self, list(columns))

    def cleanup(self) -> None:
        self.cleaned_up = True
        self.pool.active.clear()
        self.pool.idle.clear()

    def run(self, func: Callable[[FakeConnection], Any]) -> Any:
        """Run ``func`` on a pooled connection, raising IrodsErrors as python-irodsclient would."""
        conn = self.pool.get_connection()
        conn.check_alive()
        try:
            with self.zone.lock:
                return func(conn)
        except IrodsError as err:
            raise get_exception_by_code(err.code, "double") from None
        finally:
            conn.release()


# -- queries -------------------------------------------------------------------------------------------------


def _model_of(column: Any) -> Any:
    for model in (*_TICKET_MODELS, DataObjectMeta, CollectionMeta, DataObject, Collection, User, Group):
        if column in model._columns:
            return model
    raise AssertionError(f"the double does not know column {column!r}")


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern) + "$",
                      re.S)


def _matches(criterion: Criterion, value: Any) -> bool:
    if value is None:
        return False
    target = criterion.value
    if isinstance(criterion, In):
        return str(value) in {str(v) for v in target}
    if criterion.op == "like":
        return bool(_like(str(target)).match(str(value)))
    if criterion.op == "not like":
        return not _like(str(target)).match(str(value))
    if isinstance(value, int) and not isinstance(value, bool):
        target = int(target)
    elif isinstance(value, datetime):
        pass
    else:
        value, target = str(value), str(target)
    return {"=": value == target, "<>": value != target, ">": value > target, "<": value < target,
            ">=": value >= target, "<=": value <= target}[criterion.op]


class FakeQuery:
    """GenQuery over the double's tables: DISTINCT rows, ``order_by`` honoured, otherwise an unsorted order."""

    def __init__(self, session: FakeSession, columns: list[Any]) -> None:
        self.session = session
        self.columns = columns
        self.criteria: list[Criterion] = []
        self._order: list[tuple[Any, str]] = []
        self._limit = -1

    def _clone(self) -> FakeQuery:
        # As python-irodsclient's Query._clone: the criteria and the ordering are shared with the query a clone
        # came from, so filter() and order_by() change that one too (observed); only limit() stays apart.
        q = FakeQuery(self.session, self.columns)
        q.criteria, q._order, q._limit = self.criteria, self._order, self._limit
        return q

    def filter(self, *criteria: Criterion) -> FakeQuery:
        q = self._clone()
        q.criteria += list(criteria)
        return q

    def order_by(self, column: Any, order: str = "asc") -> FakeQuery:
        q = self._clone()
        q._order.append((column, order))
        return q

    def limit(self, n: int) -> FakeQuery:
        q = self._clone()
        q._limit = n
        return q

    def add_keyword(self, *_: Any) -> FakeQuery:
        return self._clone()

    def _batch_size(self) -> int:
        # python-irodsclient: limit(n) sets the rows of each round trip (maxRows), IRODS_QUERY_LIMIT without it.
        return self._limit if self._limit > 0 else QUERY_ROW_LIMIT

    def all(self) -> list[dict[Any, Any]]:
        """One GenQuery: its first batch (at most ``limit`` or QUERY_ROW_LIMIT rows), like Query.all()."""
        return self.session.run(self._execute)[: self._batch_size()]

    def get_batches(self) -> Any:
        """The rows a batch at a time, like Query.get_batches(): ``limit`` is the size of a batch, not a cap."""
        rows = self.session.run(self._execute)
        size = self._batch_size()
        for start in range(0, max(len(rows), 1), size):
            self.session.zone.batches_sent += 1
            self.session.zone.rows_sent += len(rows[start : start + size])
            yield rows[start : start + size]

    def get_results(self) -> Any:
        """Every row, continued batch by batch (``limit`` does not stop it, as in python-irodsclient)."""
        for batch in self.get_batches():
            yield from batch

    __iter__ = get_results

    def first(self) -> dict[Any, Any] | None:
        rows = self.limit(1).all()
        return rows[0] if rows else None

    def one(self) -> dict[Any, Any]:
        rows = self.all()
        if not rows:
            raise NoResultFound()
        if len(rows) > 1:
            raise MultipleResultsFound()
        return rows[0]

    def _execute(self, conn: FakeConnection) -> list[dict[Any, Any]]:
        zone = self.session.zone
        zone.queries.append({"columns": list(self.columns), "criteria": [(c.query_key, c.op, c.value)
                             for c in self.criteria], "order": list(self._order), "limit": self._limit,
                             "user": self.session.client_user, "connection": conn.number})
        models = {_model_of(c) for c in self.columns} | {_model_of(c.query_key) for c in self.criteria}
        if models & set(_TICKET_MODELS):
            rows = self._ticket_rows(models)
        elif models & {User, Group}:
            rows = self._user_rows()
        elif models & {CollectionMeta, DataObjectMeta}:
            rows = self._meta_rows(models)
        else:
            rows = self._data_rows(conn, models)
        rows = [r for r in rows if all(_matches(c, r.get(c.query_key)) for c in self.criteria)]
        projected: list[dict[Any, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for r in rows:
            key = tuple(r.get(c) for c in self.columns)
            if key not in seen:
                seen.add(key)
                projected.append({c: r.get(c) for c in self.columns})
        projected.reverse()  # a database gives no order unless asked for one
        for column, order in reversed(self._order):
            projected.sort(key=lambda r, c=column: r[c], reverse=order == "desc")
        return projected

    def _ticket_rows(self, models: set[Any]) -> list[dict[Any, Any]]:
        zone, session = self.session.zone, self.session
        admin_view = not session.proxied and zone.users.get(session.user) == "rodsadmin"
        T = TicketQuery
        if T.DataObject in models and not any(c.query_key is T.Ticket.object_type and c.value == "data"
                                              for c in self.criteria):
            raise get_exception_by_code(CAT_SQL_ERR, "double: data-object columns on collection tickets")
        keys = {c.query_key for c in self.criteria}
        if T.DataObject.coll in keys and T.DataObject.name not in keys | set(self.columns):
            # iRODS 5.0.2: "missing FROM-clause entry for table r_data_main" (observed).
            raise get_exception_by_code(CAT_SQL_ERR, "double: data-object collection without a name condition")
        rows: list[dict[Any, Any]] = []
        for t in zone.tickets.values():
            if not admin_view and t.owner != session.client_user:
                continue
            if T.Collection in models and t.object_type != "collection":
                continue
            if T.DataObject in models and t.object_type != "data":
                continue
            base = {
                T.Ticket.id: t.id, T.Ticket.string: t.string, T.Ticket.type: t.type,
                T.Ticket.user_id: 1, T.Ticket.object_id: 1, T.Ticket.object_type: t.object_type,
                T.Ticket.uses_limit: t.uses_limit, T.Ticket.uses_count: t.uses_count,
                T.Ticket.expiry_ts: t.expiry_ts, T.Ticket.write_file_count: t.write_file_count,
                T.Ticket.write_file_limit: t.write_file_limit, T.Ticket.write_byte_count: t.write_byte_count,
                T.Ticket.write_byte_limit: t.write_byte_limit, T.Ticket.create_time: t.created,
                T.Ticket.modify_time: t.modified, T.Owner.name: t.owner, T.Owner.zone: zone.zone,
            }
            if t.object_type == "collection":
                base[T.Collection.name] = t.path
            else:
                coll, _, name = t.path.rpartition("/")
                base[T.DataObject.name], base[T.DataObject.coll] = name, coll
            expanded = [base]
            for model, id_col, value_col, values in (
                (T.AllowedUsers, T.AllowedUsers.ticket_id, T.AllowedUsers.user_name, t.users),
                (T.AllowedGroups, T.AllowedGroups.ticket_id, T.AllowedGroups.group_name, t.groups),
                (T.AllowedHosts, T.AllowedHosts.ticket_id, T.AllowedHosts.host, t.hosts),
            ):
                if model in models:
                    expanded = [{**r, id_col: str(t.id), value_col: v} for r in expanded for v in values]
            rows += expanded
        return rows

    def _user_rows(self) -> list[dict[Any, Any]]:
        zone = self.session.zone
        rows = []
        for name, kind in zone.users.items():
            if kind == "rodsgroup":
                continue
            memberships = [name] + [g for g, members in zone.groups.items() if name in members]
            for group in memberships:
                rows.append({User.name: name, User.zone: zone.zone, User.type: kind, Group.name: group})
        return rows

    def _meta_rows(self, models: set[Any]) -> list[dict[Any, Any]]:
        zone, session = self.session.zone, self.session
        rows: list[dict[Any, Any]] = []
        if DataObjectMeta in models:
            for path, obj in zone.objects.items():
                if session.proxied and obj.owner != session.client_user:
                    continue
                coll, _, name = path.rpartition("/")
                rows += [{DataObject.name: name, Collection.name: coll, DataObjectMeta.name: a,
                          DataObjectMeta.value: v, DataObjectMeta.units: ""} for a, v in obj.avus.items()]
        else:
            for path, coll_obj in zone.collections.items():
                if session.proxied and coll_obj.owner != session.client_user:
                    continue
                rows += [{Collection.name: path, CollectionMeta.name: a, CollectionMeta.value: v,
                          CollectionMeta.units: ""} for a, v in coll_obj.avus.items()]
        return rows

    def _data_rows(self, conn: FakeConnection, models: set[Any]) -> list[dict[Any, Any]]:
        zone = self.session.zone
        rows: list[dict[Any, Any]] = []

        def visible(path: str) -> bool:
            if conn.ticket and zone.ticket_covers(conn, path):
                return True
            # A proxied session's queries see what the proxy (a rodsadmin) sees (observed).
            return self.session.user == zone.admin or zone.owner_of(path) == self.session.client_user

        if DataObject in models:
            for path, obj in zone.objects.items():
                coll, _, name = path.rpartition("/")
                if visible(path):
                    rows.append({DataObject.name: name, DataObject.size: len(obj.data), DataObject.id: obj.id,
                                 DataObject.owner_name: obj.owner, DataObject.replica_status: obj.replica_status,
                                 DataObject.replica_number: 0,
                                 DataObject.modify_time: obj.modified, DataObject.checksum: obj.checksum,
                                 DataObject.collection_id: zone.collections[coll].id,
                                 Collection.name: coll, Collection.id: zone.collections[coll].id})
        else:
            for path, coll in zone.collections.items():
                if visible(path):
                    rows.append({Collection.name: path, Collection.parent_name: path.rpartition("/")[0] or "/",
                                 Collection.modify_time: coll.modified, Collection.create_time: coll.modified,
                                 Collection.id: coll.id})
        return rows


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- data managers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Replica:
    """Like ``irods.data_object.iRODSReplica`` (one replica per object here)."""

    number: int
    status: str
    size: int
    checksum: str | None
    modify_time: datetime


class _Info:
    def __init__(self, path: str, obj: Obj) -> None:
        self.path = path
        self.name = path.rpartition("/")[2]
        self.size = len(obj.data)
        self.modify_time = obj.modified
        self.checksum = obj.checksum
        self.id = obj.id
        self.replicas = [_Replica(0, obj.replica_status, len(obj.data), obj.checksum, obj.modified)]


class FakeCollections:
    def __init__(self, session: FakeSession) -> None:
        self.session = session

    def get(self, path: str) -> _Info:
        zone = self.session.zone

        def op(conn: FakeConnection) -> _Info:
            if path not in zone.collections:
                raise CollectionDoesNotExist()
            if conn.ticket and not zone.ticket_covers(conn, path):
                raise CollectionDoesNotExist()
            return _Info(path, zone.collections[path])

        return self.session.run(op)

    def create(self, path: str, recurse: bool = True, **options: Any) -> _Info:
        self.session.run(lambda conn: self.create_on(conn, path, recurse=recurse))
        return self.get(path)

    def create_on(self, conn: FakeConnection, path: str, *, recurse: bool) -> None:
        """``COLL_CREATE`` as the server runs it over ``conn``."""
        zone = self.session.zone
        if path in zone.collections:
            if not recurse:
                raise IrodsError(CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME)
            return
        parent = path.rpartition("/")[0]
        missing = []
        while parent not in zone.collections:
            if not recurse:
                raise IrodsError(CAT_UNKNOWN_COLLECTION)
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        if not zone.may_create_in(conn, parent) or (missing and conn.ticket):
            raise IrodsError(CAT_NO_ACCESS_PERMISSION)
        if conn.ticket:
            zone.use_ticket(conn, path, write=True, uses=1, files=1)
        zone.make_collection(path, self.session.client_user)

    def exists(self, path: str) -> bool:
        return path in self.session.zone.collections

    def remove(self, path: str, recurse: bool = True, force: bool = False, **options: Any) -> None:
        """``irm -r``/``rmdir``: without ``recurse`` a collection that holds anything is refused."""
        zone = self.session.zone

        def op(conn: FakeConnection) -> None:
            entry = zone.collections.get(path)
            if entry is None:
                raise IrodsError(CAT_UNKNOWN_COLLECTION)
            session = conn.session
            if conn.ticket:
                zone.use_ticket(conn, path, write=True, uses=0)
            else:
                admin = zone.users.get(session.user) == "rodsadmin" and not session.proxied
                if not (admin or entry.owner == session.client_user):
                    raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            inside = [p for p in (*zone.collections, *zone.objects) if p.startswith(path + "/")]
            if inside and not recurse:
                raise IrodsError(CAT_COLLECTION_NOT_EMPTY)
            for p in [*inside, path]:
                zone.collections.pop(p, None)
                zone.objects.pop(p, None)

        self.session.run(op)


class _WriteHandle(io.BytesIO):
    def __init__(self, finish: Callable[[bytes], None], conn: FakeConnection) -> None:
        super().__init__()
        self._finish, self._conn = finish, conn

    def write(self, data: Any) -> int:
        self._conn.check_alive("Unable to send message")
        written = super().write(data)
        zone = self._conn.session.zone
        if zone.stop_after_bytes is not None and self.tell() >= zone.stop_after_bytes:
            zone.stop_after_bytes = None
            zone.stop()
        return written

    def close(self) -> None:
        if not self.closed:
            data = self.getvalue()
            super().close()
            self._conn.check_alive("Unable to send message")
            self._conn.release()
            self._finish(data)


class _RawRead(io.RawIOBase):
    """Like python-irodsclient's iRODSDataObjectFileRaw opened for reading (its ``open`` wraps it in a
    ``BufferedRandom``); closing it releases the connection."""

    def __init__(self, data: bytes, conn: FakeConnection) -> None:
        super().__init__()
        self._data, self._pos, self._conn = data, 0, conn

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._conn.check_alive()
        chunk = self._data[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("opened for reading")

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: len(self._data) + offset}[whence]
        return self._pos

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._conn.check_alive("Unable to send message")
            self._conn.release()


class FakeDataObjects:
    def __init__(self, session: FakeSession) -> None:
        self.session = session
        self.open_calls: list[tuple[str, str, dict[str, Any]]] = []

    def get(self, path: str) -> _Info:
        zone = self.session.zone

        def op(conn: FakeConnection) -> _Info:
            if path not in zone.objects:
                raise DataObjectDoesNotExist()
            if conn.ticket and not zone.ticket_covers(conn, path):
                raise DataObjectDoesNotExist()
            return _Info(path, zone.objects[path])

        return self.session.run(op)

    def open(self, path: str, mode: str, **options: Any) -> io.BytesIO:
        zone = self.session.zone
        self.open_calls.append((path, mode, options))
        conn = self.session.pool.get_connection()
        try:
            conn.check_alive()
            if mode == "r":
                if path not in zone.objects:
                    raise IrodsError(CAT_UNKNOWN_FILE)
                if conn.ticket:
                    zone.use_ticket(conn, path, uses=0 if path in conn.opened else 1)
                    conn.opened.add(path)
                return io.BufferedRandom(_RawRead(zone.objects[path].data, conn))
            parent = path.rpartition("/")[0]
            if parent not in zone.collections:
                raise IrodsError(CAT_UNKNOWN_COLLECTION)
            old = zone.objects.get(path)
            row = None
            if conn.ticket:
                if old is None and not zone.may_create_in(conn, parent):
                    raise IrodsError(CAT_NO_ACCESS_PERMISSION)
                again = path in conn.opened
                row = zone.use_ticket(conn, path, write=True, uses=0 if again else 1 if old else 2,
                                      files=0 if again else 1 if old else 2)
                if row.write_byte_limit and row.write_byte_count >= row.write_byte_limit:
                    raise IrodsError(CAT_TICKET_WRITE_BYTES_EXCEEDED)
                conn.opened.add(path)
            elif old is None and not zone.may_create_in(conn, parent):
                raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            elif old is not None and old.owner != self.session.client_user and self.session.proxied:
                raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            owner = old.owner if old is not None else self.session.client_user
            zone.objects[path] = Obj(old.id if old else next(zone._ids), owner, b"", zone.stamp(),
                                     dict(old.avus) if old else {}, replica_status="2")
            expected = options.get(kw.VERIFY_CHKSUM_KW)

            def finish(data: bytes) -> None:
                zone.writing.pop(path, None)
                checksum = None
                if expected is not None:
                    if expected != _md5(data):
                        raise get_exception_by_code(USER_CHKSUM_MISMATCH, "double")
                    checksum = expected
                if path in zone.objects:
                    current = zone.objects[path]
                    zone.objects[path] = Obj(current.id, owner, data, zone.stamp(), current.avus, checksum)
                if row is not None and row.write_byte_limit:  # bytes are counted only with a limit
                    row.write_byte_count += len(data)

            handle = _WriteHandle(finish, conn)
            zone.writing[path] = handle
            return handle
        except IrodsError as err:
            conn.release()
            raise get_exception_by_code(err.code, "double") from None
        except BaseException:
            conn.release()
            raise

    def copy(self, src_path: str, dest_path: str, **options: Any) -> None:
        """``DATA_OBJ_COPY`` on the server: the source read and the destination written through the ticket
        (counted as a write file with its bytes, as for any write); AVUs are not copied (iRODS does not)."""
        zone = self.session.zone

        def op(conn: FakeConnection) -> None:
            if src_path not in zone.objects:
                raise IrodsError(CAT_UNKNOWN_FILE)
            row = None
            if conn.ticket:
                zone.use_ticket(conn, src_path)
                row = zone.use_ticket(conn, dest_path, write=True)
                row.write_file_count += 1
                if row.write_file_limit and row.write_file_count > row.write_file_limit:
                    raise IrodsError(CAT_TICKET_WRITE_USES_EXCEEDED)
            if dest_path.rpartition("/")[0] not in zone.collections:
                raise IrodsError(CAT_UNKNOWN_COLLECTION)
            source = zone.objects[src_path]
            data = source.data
            old = zone.objects.get(dest_path)
            owner = row.owner if row is not None else self.session.client_user
            # With VERIFY_CHKSUM_KW the server checksums the copy in the source's scheme (MD5 for an MD5, else
            # its default SHA-256); without it the copy has none.
            checksum = None
            if kw.VERIFY_CHKSUM_KW in options:
                checksum = _md5(data) if source.checksum and ":" not in source.checksum else (
                    "sha2:" + base64.b64encode(hashlib.sha256(data).digest()).decode())
            zone.objects[dest_path] = Obj(old.id if old else next(zone._ids), owner, data, zone.stamp(),
                                          dict(old.avus) if old else {}, checksum)
            if row is not None:
                row.write_byte_count += len(data)

        self.session.run(op)

    def modDataObjMeta(self, data_obj_info: dict[str, Any], meta_dict: dict[str, Any], **options: Any) -> None:  # noqa: N802
        """``ModDataObjMeta`` of a checksum: only a rodsadmin with ``ADMIN_KW`` (-818000 without; a proxied session
        has no privilege for the API at all, SYS_NO_API_PRIV -13000), observed."""
        zone = self.session.zone

        def op(conn: FakeConnection) -> None:
            if self.session.proxied:
                raise IrodsError(-13000)
            if zone.users.get(self.session.user) != "rodsadmin" or kw.ADMIN_KW not in meta_dict:
                raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            path = data_obj_info["objPath"]
            if path not in zone.objects:
                raise IrodsError(CAT_UNKNOWN_FILE)
            if kw.CHKSUM_KW in meta_dict:
                zone.objects[path].checksum = meta_dict[kw.CHKSUM_KW]

        self.session.run(op)

    def unlink(self, path: str, force: bool = False, **options: Any) -> None:
        zone = self.session.zone

        def op(conn: FakeConnection) -> None:
            if path not in zone.objects:
                raise IrodsError(CAT_UNKNOWN_FILE)
            if conn.ticket:
                zone.use_ticket(conn, path, write=True, uses=0)  # a delete through a ticket counted nothing
            elif self.session.proxied and zone.objects[path].owner != self.session.client_user:
                raise IrodsError(CAT_NO_ACCESS_PERMISSION)
            del zone.objects[path]

        self.session.run(op)
