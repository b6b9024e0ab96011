"""What the iRODS server does with tickets, pinned against the real zone and checked on the test double alike.

Every test runs twice: on the real iRODS zone (``irods`` marker; needs TICKETBOOTH_TEST_IRODS_*) and on the
double in ``irods_double.py``, so the double cannot drift from the server it stands for. docs/irods.md
("Observed server behaviour") lists each observation with the test here that pins it. The sessions are
python-irodsclient's own (``iRODSSession``) on the real zone and the double's stand-in, driven through the same
client API.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from irods import keywords as kw
from irods.column import Like
from irods.meta import iRODSMeta
from irods.models import Collection, CollectionMeta, DataObject
from irods.models import TicketQuery as TQ
from irods.ticket import Ticket as IrodsTicket

from ticketbooth.backends.irods.errors import irods_code
from ticketbooth.backends.irods.genquery import compares_bytewise, first_rows

from .irods_double import QUERY_ROW_LIMIT, FakeZone

_ENV = {name: os.environ.get(f"TICKETBOOTH_TEST_IRODS_{name}", "") for name in ("HOST", "PORT", "ZONE", "USER",
                                                                                  "PASSWORD")}


class Server:
    """One zone (real or double) as the tests drive it: sessions as rods, proxied as a user, or anonymous."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sessions: list = []
        if kind == "double":
            self.zone_name = "tempZone"
            self.double = FakeZone()
            for user in ("alice", "bob", "carol"):
                self.double.add_user(user)
            self.double.add_group("lab", ["alice", "bob"])
        else:
            if not all(_ENV.values()):
                pytest.skip("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD to run against a real iRODS zone")
            self.zone_name = _ENV["ZONE"]
        run = uuid.uuid4().hex[:8]
        self.root = f"/{self.zone_name}/home/alice/tb-observed-{run}"
        self.admin_name = _ENV["USER"] if kind == "real" else self.double.admin
        self.admin_root = f"/{self.zone_name}/home/{self.admin_name}/tb-observed-{run}"

    def session(self, client_user: str | None = None, *, anonymous: bool = False, **extra):
        if self.kind == "double":
            kwargs = {"user": "anonymous", "password": ""} if anonymous else {
                "user": self.double.admin, "password": self.double.password}
            if client_user:
                kwargs["client_user"] = client_user
            session = self.double.session_factory(**kwargs, **extra)
        else:
            from irods.session import iRODSSession

            user, password = ("anonymous", "") if anonymous else (_ENV["USER"], _ENV["PASSWORD"])
            kwargs = {"host": _ENV["HOST"], "port": int(_ENV["PORT"]), "zone": self.zone_name, "user": user,
                      "password": password, **extra}
            if client_user:
                kwargs["client_user"] = client_user
            session = iRODSSession(**kwargs)
        self.sessions.append(session)
        return session

    def with_ticket(self, string: str, client_user: str | None = None, *, anonymous: bool = False):
        session = self.session(client_user, anonymous=anonymous)
        IrodsTicket(session, string).supply()
        return session

    def row(self, string: str) -> dict:
        return self.admin.query(*TQ.Ticket._columns).filter(TQ.Ticket.string == string).one()

    def put(self, session, path: str, data: bytes, **options) -> None:
        handle = session.data_objects.open(path, "w", **options)
        try:
            handle.write(data)
        finally:
            handle.close()

    def read(self, session, path: str) -> bytes:
        handle = session.data_objects.open(path, "r")
        try:
            return handle.read()
        finally:
            handle.close()

    def close(self) -> None:
        if self.kind == "real":
            for string in self.tickets():
                IrodsTicket(self.admin, string).delete(**{kw.ADMIN_KW: ""})
            alice = self.session("alice")
            for session, path in ((alice, self.root), (self.admin, self.admin_root)):
                if session.collections.exists(path):
                    session.collections.remove(path, recurse=True, force=True)
        for session in self.sessions:
            session.cleanup()

    def tickets(self) -> list[str]:
        rows = self.admin.query(TQ.Ticket.string, TQ.Collection.name).filter(
            Like(TQ.Collection.name, self.root + "%")).get_results()
        found = [r[TQ.Ticket.string] for r in rows]
        rows = self.admin.query(TQ.Ticket.string, TQ.DataObject.coll).filter(
            TQ.Ticket.object_type == "data", Like(TQ.DataObject.coll, self.root + "%"),
            Like(TQ.DataObject.name, "%")).get_results()
        return found + [r[TQ.Ticket.string] for r in rows]


@pytest.fixture(params=["double", pytest.param("real", marks=pytest.mark.irods)])
def server(request):
    server = Server(request.param)
    server.admin = server.session()
    alice = server.session("alice")
    alice.collections.create(server.root + "/sub", recurse=True)
    server.put(alice, server.root + "/a.txt", b"hello")
    yield server
    server.close()


def ticket(server, access: str = "read", target: str | None = None, *, owner: str = "alice", **limits: str):
    api = IrodsTicket(server.session(owner))
    api.issue(access, target or server.root)
    for keyword, value in limits.items():
        api.modify(keyword.replace("_", "-"), value)
    return api.string


def code_of(raised: pytest.ExceptionInfo) -> int | None:
    return irods_code(raised.value)


# -- the ticket row ----------------------------------------------------------------------------------------------


def test_every_ticket_change_moves_its_modify_time(server):
    # The row's modify_ts (whole seconds) moves with allow-list changes too, and with an expiry set to what it
    # was: TicketBooth's memo of a ticket (ticketmemo.py) is valid while the row is unchanged.
    string = ticket(server, "write")
    api = IrodsTicket(server.session("alice"), string)
    steps = [("add", "group", "lab"), ("add", "host", "127.0.0.1"), ("add", "user", "bob"),
             ("remove", "user", "bob"), ("expire", "0")]
    stamps = [server.row(string)[TQ.Ticket.modify_time]]
    for step in steps:
        if server.kind == "real":
            time.sleep(1.05)  # the stamp has whole seconds
        else:
            later = datetime.now(UTC) + timedelta(seconds=len(stamps))
            server.double.clock = lambda later=later: later
        api.modify(*step)
        stamps.append(server.row(string)[TQ.Ticket.modify_time])
    assert all(later > earlier for earlier, later in zip(stamps, stamps[1:], strict=False)), stamps


def test_new_tickets_have_a_write_file_limit_of_10(server):
    row = server.row(ticket(server, "write"))
    assert (row[TQ.Ticket.uses_limit], row[TQ.Ticket.write_file_limit], row[TQ.Ticket.write_byte_limit]) == (0, 10, 0)


def test_the_byte_limit_keyword_is_write_bytes(server):
    string = ticket(server, "write")
    api = IrodsTicket(server.session("alice"), string)
    with pytest.raises(Exception) as raised:
        api.modify("write-byte", "100")
    assert code_of(raised) == -816000  # CAT_INVALID_ARGUMENT
    api.modify("write-bytes", "100")
    assert server.row(string)[TQ.Ticket.write_byte_limit] == 100


def test_expire_0_clears_an_expiry(server):
    string = ticket(server, expire=str(int(time.time()) + 3600))
    assert int(server.row(string)[TQ.Ticket.expiry_ts]) > 0
    IrodsTicket(server.session("alice"), string).modify("expire", "0")
    assert server.row(string)[TQ.Ticket.expiry_ts] in (None, "", "0")


def test_admin_keyword_is_needed_to_modify_and_delete_someone_elses_ticket(server):
    string = ticket(server)
    with pytest.raises(Exception) as raised:
        IrodsTicket(server.admin, string).modify("uses", "5")
    assert code_of(raised) == -890000  # as if it did not exist
    IrodsTicket(server.admin, string).modify("uses", "5", **{kw.ADMIN_KW: ""})
    assert server.row(string)[TQ.Ticket.uses_limit] == 5
    with pytest.raises(Exception) as raised:
        IrodsTicket(server.session("bob"), string).delete()
    assert code_of(raised) == -890000
    IrodsTicket(server.admin, string).delete(**{kw.ADMIN_KW: ""})
    assert not server.admin.query(TQ.Ticket.id).filter(TQ.Ticket.string == string).all()


def test_admin_keyword_lets_the_service_account_change_avus_on_a_users_collection(server):
    with pytest.raises(Exception) as raised:
        server.admin.metadata.set(Collection, server.root, iRODSMeta("ticketbooth.label.1", "x"))
    assert code_of(raised) == -818000  # CAT_NO_ACCESS_PERMISSION
    server.admin.metadata.set(Collection, server.root, iRODSMeta("ticketbooth.label.1", "x"), **{kw.ADMIN_KW: ""})
    server.admin.metadata.remove(Collection, server.root, iRODSMeta("ticketbooth.label.1", "x"), **{kw.ADMIN_KW: ""})


# -- catalog queries -------------------------------------------------------------------------------------------------


def test_a_data_object_collection_filter_needs_a_name_condition(server):
    ticket(server, target=server.root + "/a.txt")
    query = server.admin.query(TQ.Ticket.id).filter(
        TQ.Ticket.object_type == "data", Like(TQ.DataObject.coll, server.root + "%"))
    with pytest.raises(Exception) as raised:
        query.all()
    assert code_of(raised) == -806000  # CAT_SQL_ERR (the name neither selected nor filtered)
    assert len(query.filter(Like(TQ.DataObject.name, "%")).all()) == 1
    selected = server.admin.query(TQ.Ticket.id, TQ.DataObject.name).filter(
        TQ.Ticket.object_type == "data", Like(TQ.DataObject.coll, server.root + "%"))
    assert [r[TQ.DataObject.name] for r in selected.all()] == ["a.txt"]  # selecting the name is enough too


def test_query_all_stops_at_500_rows_and_get_results_pages_on(server):
    count = QUERY_ROW_LIMIT + 7
    server.admin.collections.create(server.admin_root, recurse=True)
    if server.kind == "real":
        from irods.meta import AVUOperation

        server.admin.collections.get(server.admin_root).metadata.apply_atomic_operations(
            *[AVUOperation(operation="add", avu=iRODSMeta(f"n{i}", "v")) for i in range(count)])
    else:  # the double has no atomic-operations API; the rows are what matters here
        server.double.collections[server.admin_root].avus.update({f"n{i}": "v" for i in range(count)})
    query = server.admin.query(CollectionMeta.name).filter(Collection.name == server.admin_root,
                                                           Like(CollectionMeta.name, "n%"))
    assert len(query.all()) == QUERY_ROW_LIMIT
    assert len(list(query.get_results())) == count
    # limit(n) sets the rows of a round trip, not of the result: get_results() still reads to the end (a ticket
    # page read every row after its cursor that way); genquery.first_rows stops at n.
    assert len(list(query.limit(10).get_results())) == count
    assert len(first_rows(query, 10)) == 10
    assert [len(batch) for batch in query.limit(300).get_batches()] == [300, count - 300]


def test_a_filter_also_changes_the_query_it_was_called_on(server):
    # python-irodsclient's Query._clone shares the criteria list: a query cannot serve as the base of several
    # filtered ones (listing.py makes each afresh).
    alice = server.session("alice")
    for name in ("a1", "a2", "b1"):
        server.put(alice, f"{server.root}/sub/{name}", b"1")
    base = server.admin.query(DataObject.name).filter(Collection.name == server.root + "/sub")
    only_a = base.filter(Like(DataObject.name, "a%"))
    assert sorted(r[DataObject.name] for r in only_a.get_results()) == ["a1", "a2"]
    assert sorted(r[DataObject.name] for r in base.get_results()) == ["a1", "a2"]  # not ["a1", "a2", "b1"]


def test_the_catalog_compares_and_orders_names_by_utf8_bytes(server):
    # The test zone's PostgreSQL runs with the C.UTF-8 collation, as listings need (genquery.compares_bytewise):
    # "-" (0x2d) < "." < "/" < "0" < "Z" < "a" < "é"; a linguistic collation would ignore "-" and fold case.
    alice = server.session("alice")
    names = ["a", "a-b", "a.txt", "a0", "Z", "\u00e9", "b"]
    for name in names:
        server.put(alice, f"{server.root}/sub/{name}", b"1")
    assert compares_bytewise(server.admin, server.zone_name)
    query = server.admin.query(DataObject.name).filter(Collection.name == server.root + "/sub",
                                                       DataObject.name > "a-b").order_by(DataObject.name)
    assert [row[DataObject.name] for row in query.get_results()] == sorted(
        (n for n in names if n.encode() > b"a-b"), key=str.encode)


def test_creating_an_existing_collection_without_recurse_fails(server):
    path = server.admin_root
    server.admin.collections.create(path, recurse=False)
    try:
        with pytest.raises(Exception) as raised:
            server.admin.collections.create(path, recurse=False)
        assert code_of(raised) == -809000  # CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME: TicketBooth's lock primitive
        server.admin.collections.create(path, recurse=True)  # with recurse an existing collection is fine
    finally:
        server.admin.collections.remove(path, recurse=False, force=True)


# -- using a ticket --------------------------------------------------------------------------------------------------


def test_uses_are_counted_per_object_opened_and_only_with_a_limit(server):
    server.put(server.session("alice"), server.root + "/b.txt", b"bee")
    limited, unlimited = ticket(server, uses="10"), ticket(server)
    for string in (limited, unlimited):
        s = server.with_ticket(string, "bob")
        s.collections.get(server.root)
        s.data_objects.get(server.root + "/a.txt")
        list(s.query(DataObject.name).filter(Collection.name == server.root).get_results())
        assert server.row(string)[TQ.Ticket.uses_count] == 0  # stats and queries are never counted
        assert server.read(s, server.root + "/a.txt") == b"hello"
        assert server.read(s, server.root + "/a.txt") == b"hello"
        assert server.row(string)[TQ.Ticket.uses_count] == (1 if string == limited else 0)  # once per object
        assert server.read(s, server.root + "/b.txt") == b"bee"
    assert server.row(limited)[TQ.Ticket.uses_count] == 2  # another object, the same connection: one more
    assert server.row(unlimited)[TQ.Ticket.uses_count] == 0  # no limit: nothing counted


def test_a_new_object_costs_two_uses_and_two_write_files_and_bytes_count_only_with_a_limit(server):
    counted = ticket(server, "write", uses="100", write_file="100", write_bytes="100")
    s = server.with_ticket(counted, "bob")
    server.put(s, server.root + "/new.bin", b"12345")
    row = server.row(counted)
    assert (row[TQ.Ticket.uses_count], row[TQ.Ticket.write_file_count], row[TQ.Ticket.write_byte_count]) == (2, 2, 5)
    s.data_objects.unlink(server.root + "/new.bin", force=True)
    uncounted = ticket(server, "write")
    s = server.with_ticket(uncounted, "bob")
    server.put(s, server.root + "/new.bin", b"12345")
    row = server.row(uncounted)
    assert (row[TQ.Ticket.uses_count], row[TQ.Ticket.write_file_count], row[TQ.Ticket.write_byte_count]) == (0, 2, 0)
    s.data_objects.unlink(server.root + "/new.bin", force=True)


def test_stats_through_a_ticket_check_nothing_opens_check_everything(server):
    expired = ticket(server, expire=str(int(time.time()) + 1))
    restricted = ticket(server)
    IrodsTicket(server.session("alice"), restricted).modify("add", "user", "bob")
    if server.kind == "real":
        time.sleep(2.1)
    else:
        server.double.clock = lambda: datetime.fromtimestamp(time.time() + 5, UTC)
    s = server.with_ticket(expired, "carol")
    assert s.data_objects.get(server.root + "/a.txt").size == 5  # an expired ticket still stats
    with pytest.raises(Exception) as raised:
        server.read(s, server.root + "/a.txt")
    assert code_of(raised) == -891000  # CAT_TICKET_EXPIRED
    s = server.with_ticket(restricted, "carol")
    assert s.data_objects.get(server.root + "/a.txt").size == 5
    with pytest.raises(KeyError) as raised:  # python-irodsclient 3.3.0 has no class for -893000
        server.read(s, server.root + "/a.txt")
    assert code_of(raised) == -893000  # CAT_TICKET_USER_EXCLUDED
    assert server.read(server.with_ticket(restricted, "bob"), server.root + "/a.txt") == b"hello"


def test_anonymous_reads_with_a_ticket(server):
    string = ticket(server)
    assert server.read(server.with_ticket(string, anonymous=True), server.root + "/a.txt") == b"hello"


def test_host_lists_are_checked_against_the_connecting_address(server):
    string = ticket(server)
    api = IrodsTicket(server.session("alice"), string)
    api.modify("add", "host", "192.0.2.7")
    with pytest.raises(KeyError) as raised:
        server.read(server.with_ticket(string, "bob"), server.root + "/a.txt")
    assert code_of(raised) == -894000  # CAT_TICKET_HOST_EXCLUDED: we connect from 127.0.0.1
    api.modify("add", "host", "127.0.0.1")  # TicketBooth's service_hosts: enough for iRODS to admit it
    assert server.read(server.with_ticket(string, "bob"), server.root + "/a.txt") == b"hello"


def test_a_write_ticket_creates_only_directly_inside_its_collection(server):
    string = ticket(server, "write")
    s = server.with_ticket(string, "bob")
    server.put(s, server.root + "/top.txt", b"top")
    for make in (lambda: server.put(s, server.root + "/sub/deep.txt", b"deep"),
                 lambda: s.collections.create(server.root + "/sub/deeper", recurse=False)):
        with pytest.raises(Exception) as raised:
            make()
        assert code_of(raised) == -818000  # CAT_NO_ACCESS_PERMISSION
    # What a ticket writes belongs to the writer, not to the ticket's owner.
    owner = server.admin.query(DataObject.owner_name).filter(Collection.name == server.root,
                                                             DataObject.name == "top.txt").one()
    assert owner[DataObject.owner_name] == "bob"
    s.data_objects.unlink(server.root + "/top.txt", force=True)  # alice could not remove bob's object


def test_a_checksum_is_stored_only_when_asked_for(server):
    alice = server.session("alice")
    server.put(alice, server.root + "/plain.bin", b"data")
    md5 = hashlib.md5(b"data").hexdigest()
    server.put(alice, server.root + "/summed.bin", b"data", **{kw.VERIFY_CHKSUM_KW: md5})
    assert alice.data_objects.get(server.root + "/plain.bin").checksum is None
    assert alice.data_objects.get(server.root + "/summed.bin").checksum == md5  # a bare hex MD5: an S3 ETag


def test_an_overwrite_without_a_checksum_drops_it_and_modify_times_are_whole_seconds(server):
    # What the provisional ETag of an object without an MD5 is made of (docs/irods.md, ETags): the catalogue's
    # size and modify time, the same in a stat and a listing row, kept to the second.
    alice = server.session("alice")
    path = server.root + "/rewritten.bin"
    server.put(alice, path, b"data", **{kw.VERIFY_CHKSUM_KW: hashlib.md5(b"data").hexdigest()})
    first = alice.data_objects.get(path)
    time.sleep(1.05)  # into the next second of the server's clock
    server.put(alice, path, b"longer data")
    stat = alice.data_objects.get(path)
    assert stat.checksum is None and stat.size == 11  # the MD5 of the old content is gone with it
    assert stat.modify_time > first.modify_time and stat.modify_time.microsecond == 0
    assert stat.modify_time.tzinfo is not None and stat.modify_time.utcoffset().total_seconds() == 0
    row = alice.query(DataObject.size, DataObject.modify_time, DataObject.checksum).filter(
        Collection.name == server.root, DataObject.name == "rewritten.bin").one()
    assert (row[DataObject.size], row[DataObject.modify_time], row[DataObject.checksum]) == (11, stat.modify_time,
                                                                                             None)


def test_the_service_account_registers_a_checksum_with_the_admin_keyword(server):
    # irods.verify_checksum = false: the object is stored without verification and its MD5 registered so.
    alice = server.session("alice")
    data = b"registered"
    md5 = hashlib.md5(data).hexdigest()
    server.put(alice, server.root + "/reg.bin", data)
    with pytest.raises(Exception) as raised:
        alice.data_objects.modDataObjMeta({"objPath": server.root + "/reg.bin"}, {kw.CHKSUM_KW: md5})
    assert code_of(raised) == -13000  # SYS_NO_API_PRIV: not for a proxied user
    with pytest.raises(Exception) as raised:
        server.admin.data_objects.modDataObjMeta({"objPath": server.root + "/reg.bin"}, {kw.CHKSUM_KW: md5})
    assert code_of(raised) == -818000  # CAT_NO_ACCESS_PERMISSION without ADMIN_KW
    server.admin.data_objects.modDataObjMeta({"objPath": server.root + "/reg.bin"},
                                             {kw.CHKSUM_KW: md5, kw.ADMIN_KW: ""})
    assert alice.data_objects.get(server.root + "/reg.bin").checksum == md5


def test_a_copy_is_checksummed_only_when_asked_and_in_its_sources_scheme(server):
    alice = server.session("alice")
    md5 = hashlib.md5(b"data").hexdigest()
    server.put(alice, server.root + "/summed.bin", b"data", **{kw.VERIFY_CHKSUM_KW: md5})
    server.put(alice, server.root + "/plain.bin", b"data")
    alice.data_objects.copy(server.root + "/summed.bin", server.root + "/bare-copy.bin", **{kw.FORCE_FLAG_KW: ""})
    assert alice.data_objects.get(server.root + "/bare-copy.bin").checksum is None  # iRODS copies no checksum
    alice.data_objects.copy(server.root + "/summed.bin", server.root + "/copy.bin",
                            **{kw.FORCE_FLAG_KW: "", kw.VERIFY_CHKSUM_KW: ""})
    assert alice.data_objects.get(server.root + "/copy.bin").checksum == md5  # the source's MD5: an ETag
    alice.data_objects.copy(server.root + "/plain.bin", server.root + "/plain-copy.bin",
                            **{kw.FORCE_FLAG_KW: "", kw.VERIFY_CHKSUM_KW: ""})
    assert alice.data_objects.get(server.root + "/plain-copy.bin").checksum.startswith("sha2:")  # the default


def test_racing_recursive_collection_creates_can_create_nothing_level_by_level_is_safe(server):
    """A recursive ``COLL_CREATE`` racing with another one for the same missing parents can answer success yet
    create nothing (observed on 5.0.2: rclone's parallel uploads into a new folder); creating one level at a time
    without ``recurse``, taking -809000 as "made by the other", always ends with every collection there."""
    import threading

    def level_by_level(path: str) -> None:
        session = server.session("alice")
        parts = path[len(server.root) + 1:].split("/")
        for depth in range(1, len(parts) + 1):
            try:
                session.collections.create("/".join([server.root, *parts[:depth]]), recurse=False)
            except Exception as err:  # noqa: BLE001 - only -809000 is expected
                assert irods_code(err) == -809000

    wanted = [f"{server.root}/race{n}/{leaf}" for n in range(5) for leaf in ("x", "x/deep", "x/deep2", "x/d/z")]
    threads = [threading.Thread(target=level_by_level, args=(path,)) for path in wanted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alice = server.session("alice")
    assert [path for path in wanted if not alice.collections.exists(path)] == []


@pytest.mark.irods
def test_tls_is_required_or_nothing():
    """``ssl = true`` makes the client insist on TLS; the test zone refuses TLS, so nothing falls back to plaintext."""
    if not all(_ENV.values()):
        pytest.skip("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD to run against a real iRODS zone")
    from ticketbooth import errors
    from ticketbooth.backends.irods import IrodsBackend
    from ticketbooth.settings import IrodsSettings, Settings

    settings = Settings(backend="irods", irods=IrodsSettings(
        host=_ENV["HOST"], port=int(_ENV["PORT"]), zone=_ENV["ZONE"], user=_ENV["USER"], password=_ENV["PASSWORD"],
        ssl=True, ssl_verify_server="none", connection_timeout=5.0))
    backend = IrodsBackend.from_settings(settings)
    try:
        with pytest.raises(errors.BackendUnavailable) as caught:
            backend.check_ready()
        assert "negotiation" in repr(caught.value.__cause__.__cause__ or caught.value.__cause__)
    finally:
        backend.close()
