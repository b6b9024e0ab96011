"""Unit tests of the iRODS backend against the python-irodsclient-boundary double (tests/backends/irods_double.py)."""
from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from irods import keywords as kw
from irods.models import TicketQuery as TQ

from ticketbooth import errors, paths, policy
from ticketbooth.backends.irods import IrodsBackend
from ticketbooth.backends.irods import errors as irods_errors
from ticketbooth.backends.irods.catalog import BATCH, decode_cursor, encode_cursor
from ticketbooth.backends.irods.connection import session_kwargs
from ticketbooth.backends.irods.counters import Counters, decode
from ticketbooth.model import Actor, TicketChanges, TicketQuery
from ticketbooth.settings import IrodsSettings, Settings

from .irods_double import FakeZone

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
STATE = "/tempZone/home/rods/.ticketbooth"
ANON = policy.AnonymousPolicy(allow_write=True)
ALICE, BOB, CAROL, ADMIN = Actor("alice"), Actor("bob"), Actor("carol"), Actor("rods", is_admin=True)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def zone(clock):
    zone = FakeZone(clock=clock)
    for user in ("alice", "bob", "carol"):
        zone.add_user(user)
    zone.add_group("lab", ["alice", "bob"])
    zone.put("/tempZone/home/alice/ds1/a.txt", b"hello", "alice")
    zone.put("/tempZone/home/alice/ds1/sub/b.txt", b"bee", "alice")
    zone.put("/tempZone/home/alice/ds10/c.txt", b"sea", "alice")
    zone.put("/tempZone/home/bob/mine/x", b"x", "bob")
    return zone


def settings_for(zone: FakeZone, **extra: object) -> Settings:
    fields = {"host": "127.0.0.1", "zone": zone.zone, "user": zone.admin, "password": zone.password,
              "connection_timeout": 1.0, **extra}
    return Settings(backend="irods", irods=IrodsSettings(**fields))  # type: ignore[arg-type]


@pytest.fixture
def backend(zone, clock):
    backend = IrodsBackend.from_settings(settings_for(zone), session_factory=zone.session_factory, clock=clock,
                                         service_hosts=[zone.gateway_address])
    yield backend
    backend.close()


def create(backend, actor=ALICE, path="/tempZone/home/alice/ds1", **request):
    spec = policy.build_spec(actor, path, now=NOW, anonymous_policy=ANON, **request)
    return backend.create_ticket(actor, spec, now=NOW)


# -- create ---------------------------------------------------------------------------------------------------


def ticket_calls(zone):
    return [c for c in zone.calls if not c.command.startswith("avu:")]


def counters_of(zone, ticket_id):
    return decode(zone.avus(STATE)[f"ticketbooth.counters.{ticket_id}"])


def test_create_issues_as_the_caller_then_modifies_in_order(backend, zone):
    ticket = create(backend, access="write", uses_limit=3, write_byte_limit=100, expires_in=60,
                    users=["bob"], groups=["lab"], hosts=["192.0.2.7"])
    calls = [(c.client_user, c.command, c.args[1:], c.options) for c in ticket_calls(zone)]
    expiry = str(int((NOW + timedelta(seconds=60)).timestamp()))
    assert calls == [
        ("alice", "create", ("write", "/tempZone/home/alice/ds1"), {}),
        ("alice", "mod", ("expire", "1"), {}),  # expired until the last step: a create cut short admits nobody
        ("alice", "mod", ("write-file", "0"), {}),  # iRODS's default of 10 would be enforced by its own count
        ("alice", "mod", ("add", "user", "bob"), {}),
        ("alice", "mod", ("add", "group", "lab"), {}),
        ("alice", "mod", ("add", "host", "192.0.2.7"), {}),
        ("alice", "mod", ("add", "host", zone.gateway_address), {}),  # so that iRODS admits TicketBooth itself
        ("alice", "mod", ("expire", expiry), {}),  # the ticket comes to life
    ]
    assert all(c.user == "rods" for c in zone.calls)  # proxied: authenticated as the service account
    row = zone.tickets[ticket.id]
    assert (row.owner, row.write_file_limit, row.uses_limit, row.write_byte_limit) == ("alice", 0, 0, 0)
    # The limits live in TicketBooth's counters, written by the service account on its state collection.
    assert counters_of(zone, ticket.id) == Counters(uses_limit=3, write_byte_limit=100)
    (avu,) = [c for c in zone.calls if c.command.startswith("avu:")]
    assert (avu.user, avu.client_user, avu.command, avu.args[:2]) == ("rods", "rods", "avu:set", ("-C", STATE))
    assert (ticket.uses_limit, ticket.write_file_limit, ticket.write_byte_limit) == (3, 0, 100)
    assert (ticket.owner, ticket.users, ticket.groups, ticket.hosts) == ("alice", ("bob",), ("lab",), ("192.0.2.7",))
    assert zone.tickets[ticket.id].hosts == ["192.0.2.7", zone.gateway_address]
    assert ticket.expires_at == NOW.replace(microsecond=0) + timedelta(seconds=60)
    assert len(ticket.string) == 15 and ticket.string.isalnum()


def test_write_file_limit_is_always_set_explicitly(backend, zone):
    ticket = create(backend)
    assert ("write-file", "0") in [c.args[1:] for c in zone.calls]
    assert ticket.write_file_limit == 0 and zone.tickets[ticket.id].write_file_limit == 0


def test_anonymous_ticket_has_no_user_restriction(backend, zone):
    ticket = create(backend, anonymous=True)
    assert ticket.anonymous and not [c for c in zone.calls if c.args[1:2] == ("add",)]


@pytest.mark.parametrize("failing", ["write-file", "expire", "add", "counters"])
def test_a_failing_step_deletes_the_ticket_with_the_admin_keyword(backend, zone, failing):
    if failing == "counters":
        zone.fail(lambda c: c.command == "avu:set" and c.args[1] == STATE, -818000)
    else:
        zone.fail(lambda c: c.command == "mod" and c.args[1] == failing, -827000 if failing == "add" else -818000)
    with pytest.raises(errors.TicketBoothError) as caught:
        create(backend, users=["bob"], expires_in=60, uses_limit=4)
    assert caught.value.details["irods_code"] in (-827000, -818000)
    assert zone.tickets == {}
    last = ticket_calls(zone)[-1]
    assert (last.user, last.client_user, last.command, last.options) == ("rods", "rods", "delete", {kw.ADMIN_KW: ""})
    assert not [a for a in zone.avus(STATE) if a.startswith("ticketbooth.counters.")]


def test_create_refusals_are_mapped(backend, zone):
    with pytest.raises(errors.PermissionDenied):
        create(backend, path="/tempZone/home/bob/mine")
    with pytest.raises(errors.PathNotFound):
        create(backend, path="/tempZone/home/alice/nothing")
    with pytest.raises(errors.InvalidRequest) as caught:
        create(backend, users=["nobody"])
    assert caught.value.details["field"] == "users"
    assert zone.tickets == {}


def test_hosts_irods_cannot_keep_are_refused_clearly(backend, zone, clock):
    for host in ("192.0.2.0/24", "2001:db8::1"):
        with pytest.raises(errors.InvalidRequest, match="single IPv4 host addresses") as caught:
            create(backend, hosts=[host])
        assert caught.value.details["field"] == "hosts"
    unconfigured = IrodsBackend.from_settings(settings_for(zone), session_factory=zone.session_factory, clock=clock)
    with pytest.raises(errors.InvalidRequest, match="service_hosts"):
        create(unconfigured, hosts=["192.0.2.7"])
    assert zone.calls == []


def test_service_hosts_come_and_go_with_the_host_list(backend, zone):
    ticket = create(backend)
    changed = backend.modify_ticket(ALICE, ticket.id, policy.apply_changes(
        ticket, now=NOW, anonymous_policy=ANON, hosts=["192.0.2.7"]), now=NOW)
    assert changed.hosts == ("192.0.2.7",) and sorted(zone.tickets[ticket.id].hosts) == ["127.0.0.1", "192.0.2.7"]
    cleared = backend.modify_ticket(ALICE, ticket.id, policy.apply_changes(
        changed, now=NOW, anonymous_policy=ANON, hosts=[]), now=NOW)
    assert cleared.hosts == () and zone.tickets[ticket.id].hosts == []


# -- labels ---------------------------------------------------------------------------------------------------


def label_of(zone, ticket):
    return zone.avus(ticket.path).get(f"ticketbooth.label.{ticket.id}")


def test_label_is_an_avu_on_the_target_set_by_the_owner(backend, zone):
    ticket = create(backend, label="for bob")
    assert ticket.label == "for bob" and label_of(zone, ticket) == "for bob"
    (call,) = [c for c in zone.calls if c.command.startswith("avu:") and c.args[1] != STATE]
    assert (call.user, call.client_user, call.command, call.args) == (
        "rods", "alice", "avu:set", ("-C", ticket.path, f"ticketbooth.label.{ticket.id}", "for bob"))
    obj = create(backend, path="/tempZone/home/alice/ds1/a.txt", label="one file")
    assert backend.find_ticket(obj.id).label == "one file" and label_of(zone, obj) == "one file"
    relabelled = backend.modify_ticket(ALICE, ticket.id, TicketChanges(label="for lab"), now=NOW)
    assert relabelled.label == "for lab" and label_of(zone, ticket) == "for lab"
    cleared = backend.modify_ticket(ALICE, ticket.id, TicketChanges(label=None), now=NOW)
    assert cleared.label is None and label_of(zone, ticket) is None
    backend.delete_ticket(ALICE, obj.id)
    assert zone.avus(obj.path) == {}


def test_admin_relabels_with_the_admin_keyword(backend, zone):
    ticket = create(backend, label="old")
    assert backend.modify_ticket(ADMIN, ticket.id, TicketChanges(label="new"), now=NOW).label == "new"
    last = [c for c in zone.calls if c.command.startswith("avu:") and c.args[1] != STATE][-1]
    assert (last.user, last.client_user, last.options) == ("rods", "rods", {kw.ADMIN_KW: ""})
    backend.delete_ticket(ADMIN, ticket.id)
    assert zone.avus(ticket.path) == {}


def test_the_ticket_row_is_the_source_of_truth_for_labels(backend, zone):
    ticket = create(backend, label="kept")
    del zone.tickets[ticket.id]  # iticket delete, out of band: the AVU stays behind
    assert backend.find_ticket(ticket.id) is None and label_of(zone, ticket) == "kept"
    other = create(backend)
    zone.collections["/tempZone/home/alice/ds10"].avus[f"ticketbooth.label.{other.id}"] = "elsewhere"
    assert backend.find_ticket(other.id).label is None  # only an AVU on the ticket's own target counts


def test_a_failing_label_rolls_back_the_ticket_and_the_change(backend, zone):
    zone.fail(lambda c: c.command == "avu:set", -818000)
    with pytest.raises(errors.PermissionDenied):
        create(backend, label="x")
    assert zone.tickets == {}
    ticket = create(backend, uses_limit=2, label="x")
    zone.fail(lambda c: c.command == "avu:set", -818000)
    with pytest.raises(errors.PermissionDenied):
        backend.modify_ticket(ALICE, ticket.id, TicketChanges(uses_limit=5, label="y"), now=NOW)
    assert backend.find_ticket(ticket.id) == ticket


# -- modify / delete ---------------------------------------------------------------------------------------------


def test_modify_as_owner_applies_a_diff(backend, zone):
    ticket = create(backend, users=["bob"])
    zone.calls.clear()
    changes = policy.apply_changes(ticket, now=NOW, anonymous_policy=ANON, uses_limit=7, users=["carol"])
    updated = backend.modify_ticket(ALICE, ticket.id, changes, now=NOW + timedelta(seconds=30))
    assert [(c.client_user, c.args[1:], c.options) for c in ticket_calls(zone)] == [
        ("alice", ("add", "user", "carol"), {}), ("alice", ("remove", "user", "bob"), {}),
    ]
    assert (updated.uses_limit, updated.users) == (7, ("carol",))
    assert counters_of(zone, ticket.id).uses_limit == 7 and zone.tickets[ticket.id].uses_limit == 0
    assert updated.modified_at == NOW + timedelta(seconds=30)  # the change time, also for a limit-only change


def test_modify_undoes_applied_steps_when_one_fails(backend, zone):
    ticket = create(backend, users=["bob"])
    zone.fail(lambda c: c.args[1:] == ("add", "user", "nobody"), -827000)
    changes = policy.apply_changes(ticket, now=NOW, anonymous_policy=ANON, uses_limit=7, users=["carol", "nobody"])
    with pytest.raises(errors.InvalidRequest):
        backend.modify_ticket(ALICE, ticket.id, changes, now=NOW)
    assert backend.find_ticket(ticket.id) == ticket
    assert zone.calls[-1].args[1:] == ("remove", "user", "carol")
    # A failing counter update undoes the ticket steps and the limits stay.
    zone.fail(lambda c: c.command == "avu:set" and c.args[1] == STATE, -818000)
    with pytest.raises(errors.PermissionDenied):
        backend.modify_ticket(ALICE, ticket.id, policy.apply_changes(
            ticket, now=NOW, anonymous_policy=ANON, uses_limit=7, users=["carol"]), now=NOW)
    assert backend.find_ticket(ticket.id) == ticket and zone.tickets[ticket.id].users == ["bob"]


def test_admin_modifies_and_deletes_with_the_admin_keyword(backend, zone):
    ticket = create(backend)
    zone.calls.clear()
    changes = policy.apply_changes(ticket, now=NOW, anonymous_policy=ANON, uses_limit=2, users=["bob"])
    backend.modify_ticket(ADMIN, ticket.id, changes, now=NOW)
    assert counters_of(zone, ticket.id).uses_limit == 2
    backend.delete_ticket(ADMIN, ticket.id)
    assert [(c.client_user, c.command, c.options) for c in ticket_calls(zone)] == [
        ("rods", "mod", {kw.ADMIN_KW: ""}), ("rods", "mod", {kw.ADMIN_KW: ""}), ("rods", "delete", {kw.ADMIN_KW: ""}),
    ]
    assert backend.find_ticket(ticket.id) is None
    assert f"ticketbooth.counters.{ticket.id}" not in zone.avus(STATE)  # tidied up after the delete


def test_non_owners_see_ticket_not_found(backend, zone):
    ticket = create(backend)
    before = list(zone.calls)
    for call in (lambda: backend.delete_ticket(BOB, ticket.id),
                 lambda: backend.modify_ticket(BOB, ticket.id, policy.apply_changes(
                     ticket, now=NOW, anonymous_policy=ANON, uses_limit=1), now=NOW)):
        with pytest.raises(errors.TicketNotFound):
            call()
    assert zone.calls == before and backend.find_ticket(ticket.id) == ticket


def test_server_side_refusal_of_a_foreign_delete_is_ticket_not_found():
    # What iRODS answers when bob, or rods without ADMIN_KW, deletes alice's ticket (irods-facts.md).
    err = irods_errors.translate(irods_errors_exception(-890000))
    assert isinstance(err, errors.TicketNotFound)


def irods_errors_exception(code):
    from irods.exception import get_exception_by_code

    try:
        return get_exception_by_code(code, "test")
    except KeyError as err:
        return err


# -- catalog queries ----------------------------------------------------------------------------------------------


def test_list_filters_by_owner_in_the_catalog_and_pages_by_id(backend, zone):
    ids = [create(backend).id for _ in range(5)]
    create(backend, actor=BOB, path="/tempZone/home/bob/mine")
    zone.queries.clear()
    page = backend.list_tickets(ALICE, TicketQuery(limit=2))
    assert [t.id for t in page.items] == ids[:2]
    main = zone.queries[0]
    assert (TQ.Owner.name, "=", "alice") in main["criteria"]
    assert (TQ.Ticket.id, ">", 0) in main["criteria"]
    # One batch of BATCH + 1 rows: the server then says whether more follow without a second round trip.
    assert main["order"] == [(TQ.Ticket.id, "asc")] and main["limit"] == BATCH + 1
    assert main["user"] == "rods"  # the service account, not proxied
    page2 = backend.list_tickets(ALICE, TicketQuery(limit=2, cursor=page.next_cursor))
    assert [t.id for t in page2.items] == ids[2:4]
    assert any((TQ.Ticket.id, ">", ids[1]) in q["criteria"] for q in zone.queries)
    everything = backend.list_tickets(ADMIN, TicketQuery(all_owners=True, limit=100))
    assert len(everything.items) == 6 and everything.next_cursor is None


def test_list_path_filter_never_matches_a_sibling_prefix(backend):
    inside = create(backend).id
    create(backend, path="/tempZone/home/alice/ds10")
    obj = create(backend, path="/tempZone/home/alice/ds1/a.txt").id
    page = backend.list_tickets(ALICE, TicketQuery(path="/tempZone/home/alice/ds1"))
    assert [t.id for t in page.items] == [inside, obj]


def test_rows_become_tickets_with_paths_and_allow_lists(backend):
    ticket = create(backend, path="/tempZone/home/alice/ds1/a.txt", users=["bob", "carol"], groups=["lab"])
    found = backend.find_ticket(ticket.id)
    assert found.path == "/tempZone/home/alice/ds1/a.txt" and found.target_kind.value == "data_object"
    assert (found.users, found.groups) == (("bob", "carol"), ("lab",))
    assert backend.find_ticket_by_string(ticket.string) == found
    assert backend.find_ticket_by_string("x' or '1'='1") is None


@pytest.mark.parametrize("cursor", ["", "abc", encode_cursor(5) + "A", "aXJvZHM6LTE"])
def test_foreign_cursors_are_refused(cursor):
    with pytest.raises(errors.InvalidRequest):
        decode_cursor(cursor)


def test_cursor_round_trip():
    assert decode_cursor(encode_cursor(10042)) == 10042


def test_user_groups_come_from_a_user_group_query(backend):
    assert backend.user_groups("alice") == frozenset({"lab", "public"})
    assert backend.user_groups("nobody") == frozenset()


# -- data path -----------------------------------------------------------------------------------------------------


def test_one_fresh_session_per_use_with_ticket_and_proxy(backend, zone):
    ticket = create(backend, uses_limit=2)
    before = len(zone.sessions)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        s.stat("/tempZone/home/alice/ds1/a.txt")
        list(s.list("/tempZone/home/alice/ds1", recursive=True))
        with s.open_read("/tempZone/home/alice/ds1/a.txt") as f:
            assert f.read() == b"hello"
    made = zone.sessions[before:]
    assert len(made) == 1
    assert made[0].kwargs["client_user"] == "alice" and made[0].ticket__ == ticket.string
    assert made[0].cleaned_up and len(made[0].pool.all) == 1
    # TicketBooth counts the use; iRODS counts nothing (the ticket carries no uses limit there).
    assert backend.find_ticket(ticket.id).uses_count == 1 and zone.tickets[ticket.id].uses_count == 0
    assert made[0].data_objects.open_calls[0][2] == {"allow_redirect": False}
    backend.open_session(ticket, "alice", client_host=None, now=NOW).close()
    with pytest.raises(errors.TicketExhausted):
        backend.open_session(ticket, "alice", client_host=None, now=NOW)
    assert backend.find_ticket(ticket.id).uses_count == 2


def test_anonymous_session_logs_in_as_the_anonymous_user(backend, zone):
    ticket = create(backend, anonymous=True)
    backend.open_session(ticket, "anonymous", client_host=None, now=NOW).close()
    kwargs = zone.sessions[-1].kwargs
    assert (kwargs["user"], kwargs["password"], "client_user" in kwargs) == ("anonymous", "", False)


@pytest.mark.parametrize(("code", "error"), [
    (-891000, errors.TicketExpired), (-892000, errors.TicketExhausted), (-893000, errors.TicketUserExcluded),
    (-894000, errors.TicketHostExcluded), (-895000, errors.TicketGroupExcluded),
    (-896000, errors.TicketWriteFilesExceeded), (-897000, errors.TicketWriteBytesExceeded),
    (-890000, errors.TicketUnusable), (-818000, errors.PermissionDenied), (-814000, errors.PathNotFound),
    (-808000, errors.PathNotFound), (-358000, errors.PathNotFound), (-827000, errors.InvalidRequest),
    (-115000, errors.BackendUnavailable), (-818013, errors.PermissionDenied),
])
def test_error_code_table(code, error):
    raised = irods_errors_exception(code)
    assert isinstance(raised, KeyError) == (-897000 <= code <= -893000)
    mapped = irods_errors.translate(raised, context="use")
    assert type(mapped) is error
    assert mapped.details["irods_code"] == irods_errors.irods_code(raised) == -(-code // 1000 * 1000)


def test_user_excluded_from_the_server_is_mapped(backend, zone):
    ticket = create(backend, users=["bob"])
    zone.tickets[ticket.id].users = ["carol"]  # changed out of band after TicketBooth read the ticket
    backend._current = lambda _: ticket  # the catalog read raced with that change
    with backend.open_session(ticket, "bob", client_host=None, now=NOW) as s:
        s.stat("/tempZone/home/alice/ds1/a.txt")  # iRODS checks a ticket only when an object is opened
        with pytest.raises(errors.TicketUserExcluded) as caught:
            s.open_read("/tempZone/home/alice/ds1/a.txt")
    assert caught.value.details["irods_code"] == -893000


def test_write_streams_in_chunks_and_failure_leaves_nothing(backend, zone):
    ticket = create(backend, access="write")
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        info = s.write("/tempZone/home/alice/ds1/new/deep.bin", io.BytesIO(b"z" * 10))
        assert (info.size, zone.objects["/tempZone/home/alice/ds1/new/deep.bin"].data) == (10, b"z" * 10)

        class Broken(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                raise ValueError("checksum mismatch")

        with pytest.raises(ValueError, match="checksum mismatch"):
            s.write("/tempZone/home/alice/ds1/broken.bin", Broken())
    assert "/tempZone/home/alice/ds1/broken.bin" not in zone.objects


def test_paths_outside_the_ticket_never_reach_irods(backend, zone):
    ticket = create(backend)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        zone.queries.clear()
        for outside in ("/tempZone/home/alice/ds10/c.txt", "/tempZone/home/alice/ds10"):
            with pytest.raises(errors.PermissionDenied):
                s.stat(outside)
        with pytest.raises(errors.InvalidPath):
            s.stat("/tempZone/home/alice/ds1/../ds10/c.txt")
    assert zone.queries == []


def test_listing_is_in_utf8_byte_order(backend, zone):
    for name in ("b", "a-z", "a/x", "a/y", "Z", "é"):
        zone.put(paths.join("/tempZone/home/alice/ds1/o", name), b"1", "alice")
    ticket = create(backend)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        listed = [i.path.rsplit("/o/", 1)[1] for i in s.list("/tempZone/home/alice/ds1/o", recursive=True)]
        after = [i.path.rsplit("/o/", 1)[1] for i in s.list("/tempZone/home/alice/ds1/o", recursive=True,
                                                             start_after="/tempZone/home/alice/ds1/o/a/x")]
    assert listed == sorted(listed, key=lambda n: n.encode()) == ["Z", "a-z", "a/x", "a/y", "b", "é"]
    assert after == ["a/y", "b", "é"]


# -- faults ---------------------------------------------------------------------------------------------------------


def test_unreachable_irods_is_backend_unavailable_with_retry_after_and_recovers(backend, zone):
    ticket = create(backend)
    zone.down = True
    for call in (backend.check_ready, lambda: backend.find_ticket(ticket.id),
                 lambda: backend.list_tickets(ALICE, TicketQuery()), lambda: create(backend),
                 lambda: backend.open_session(ticket, "alice", client_host=None, now=NOW)):
        with pytest.raises(errors.BackendUnavailable) as caught:
            call()
        assert caught.value.status == 503 and caught.value.retry_after > 0
    zone.down = False
    backend.check_ready()
    assert backend.find_ticket(ticket.id) == ticket


def test_session_kwargs_for_tls_env_file_and_proxy():
    base = IrodsSettings(host="irods", zone="z", user="rods", password="pw", ssl=True,
                         ssl_ca_certificate_file="/ca.pem")
    kwargs = session_kwargs(base, client_user="alice")
    assert kwargs["client_user"] == "alice" and kwargs["client_zone"] == "z"
    assert kwargs["irods_client_server_policy"] == "CS_NEG_REQUIRE"
    assert kwargs["irods_ssl_ca_certificate_file"] == "/ca.pem" and kwargs["connection_timeout"] == 10.0
    env = IrodsSettings(zone="z", environment_file="/env.json")
    assert session_kwargs(env) == {"irods_env_file": "/env.json", "connection_timeout": 10.0}
    anon = session_kwargs(env, anonymous=True, environment={"irods_host": "h", "irods_port": 1248})
    assert (anon["host"], anon["port"], anon["user"]) == ("h", 1248, "anonymous")


def test_irods_is_imported_only_by_the_irods_backend():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "ticketbooth"
    offenders = [p for p in root.rglob("*.py") if "backends/irods" not in p.as_posix()
                 and any(line.startswith(("import irods", "from irods")) for line in p.read_text().splitlines())]
    assert offenders == []


def test_change_steps_add_before_they_remove():
    # Issue 9 item 6: replacing users by groups must not pass through "no users, no groups" (= anyone) in iRODS.
    from ticketbooth.backends.irods.backend import change_steps
    from ticketbooth.model import Access, TargetKind, Ticket, TicketChanges

    ticket = Ticket(id=1, string="s", path="/z/home/a/ds", target_kind=TargetKind.COLLECTION, access=Access.WRITE,
                    owner="a", users=("bob",))
    steps = [do for do, _ in change_steps(ticket, TicketChanges(users=(), groups=("lab",)))]
    assert steps == [("add", "group", "lab"), ("remove", "user", "bob")]


# -- what the real server made us change (see test_irods_observed.py for the server side) -------------------------


def test_allow_lists_longer_than_one_genquery_are_read_to_the_end(backend, zone):
    # 101 tickets x 6 users = 606 allow-list rows in one batch: Query.all() would stop at 500 and the last tickets
    # would lose their users (and look anonymous).
    users = [f"u{i}" for i in range(6)]
    for user in users:
        zone.add_user(user)
    made = [create(backend, users=users) for _ in range(101)]
    page = backend.list_tickets(ALICE, TicketQuery(limit=200))
    assert [t.id for t in page.items] == [t.id for t in made]
    assert all(t.users == tuple(sorted(users)) and not t.anonymous for t in page.items)


def test_names_the_key_rules_refuse_are_left_out_of_listings(backend, zone, caplog):
    zone.put("/tempZone/home/alice/ds1/bad\x01name", b"1", "alice")
    zone.put("/tempZone/home/alice/ds1/" + "n" * 1100, b"1", "alice")
    ticket = create(backend)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        listed = [i.path for i in s.list("/tempZone/home/alice/ds1", recursive=True)]
    assert listed == ["/tempZone/home/alice/ds1/a.txt", "/tempZone/home/alice/ds1/sub/b.txt"]
    skipped = [r for r in caplog.records if "skipped an entry" in r.getMessage()]
    assert len(skipped) == 2 and all(r.levelname == "WARNING" for r in skipped)


def test_writes_go_through_the_owner_and_register_their_md5(backend, zone):
    ticket = create(backend, access="write", anonymous=True)
    made = len(zone.sessions)  # what creating the ticket used
    with backend.open_session(ticket, "anonymous", client_host=None, now=NOW) as s:
        info = s.write("/tempZone/home/alice/ds1/new/deep/x.bin", io.BytesIO(b"payload"))
        s.delete("/tempZone/home/alice/ds1/a.txt")
    stored = zone.objects["/tempZone/home/alice/ds1/new/deep/x.bin"]
    assert stored.owner == "alice" and zone.collections["/tempZone/home/alice/ds1/new/deep"].owner == "alice"
    assert stored.checksum == info.etag == hashlib.md5(b"payload").hexdigest()
    assert "/tempZone/home/alice/ds1/a.txt" not in zone.objects
    owner_sessions = [x for x in zone.sessions[made:] if x.kwargs.get("client_user") == "alice" and not x.ticket__]
    assert len(owner_sessions) == 1 and not owner_sessions[0].cleaned_up  # kept for the next write as alice
    with backend.open_session(ticket, "anonymous", client_host=None, now=NOW) as s:
        s.write("/tempZone/home/alice/ds1/new/deep/y.bin", io.BytesIO(b"more"))
    assert [x for x in zone.sessions[made:] if x.kwargs.get("client_user") == "alice" and not x.ticket__
            ] == owner_sessions
    backend.close()
    assert owner_sessions[0].cleaned_up


def test_an_owner_session_that_saw_a_failure_is_not_lent_again(backend, zone):
    ticket = create(backend, access="write")
    made = len(zone.sessions)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        s.write("/tempZone/home/alice/ds1/x.bin", io.BytesIO(b"x"))
        zone.fail(lambda call: call.command.startswith("avu:") and call.args[1].endswith("/ds1/new"),
                  -818000)  # the s3.implicit mark of a new parent
        with pytest.raises(errors.PermissionDenied):
            s.write("/tempZone/home/alice/ds1/new/x.bin", io.BytesIO(b"x"))
    owners = [x for x in zone.sessions[made:] if x.kwargs.get("client_user") == "alice" and not x.ticket__]
    assert len(owners) == 1 and owners[0].cleaned_up


def test_a_failed_store_gives_the_write_budget_back(backend, zone):
    ticket = create(backend, access="write", write_byte_limit=10, write_file_limit=1)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        real_open = zone.session_factory

        def failing(**kwargs):
            session = real_open(**kwargs)
            if kwargs.get("client_user") == "alice" and not session.ticket__:
                def refuse(*a, **k):
                    raise ConnectionError("iRODS went away")
                session.data_objects.open = refuse
            return session

        backend._connector._factory = failing
        with pytest.raises(errors.BackendUnavailable):
            s.write("/tempZone/home/alice/ds1/x.bin", io.BytesIO(b"12345"))
    current = backend.find_ticket(ticket.id)
    assert (current.write_file_count, current.write_byte_count) == (0, 0)


def test_a_held_counter_lock_makes_a_use_wait_then_fail_unavailable(backend, zone):
    ticket = create(backend)
    zone.make_collection(f"{STATE}/locks/{ticket.id}", "rods")  # another instance holds it (fresh: not stale)
    with pytest.raises(errors.BackendUnavailable) as caught:
        backend.open_session(ticket, "alice", client_host=None, now=NOW)
    assert caught.value.retry_after > 0 and backend.find_ticket(ticket.id).uses_count == 0


def test_a_stale_counter_lock_is_broken(backend, zone, clock, caplog):
    ticket = create(backend)
    lock = f"{STATE}/locks/{ticket.id}"
    zone.make_collection(lock, "rods")
    zone.collections[lock].modified = datetime.now(UTC) - timedelta(seconds=120)  # left by a crashed instance
    backend.open_session(ticket, "alice", client_host=None, now=NOW).close()
    assert backend.find_ticket(ticket.id).uses_count == 1 and lock not in zone.collections
    assert any("stale counter lock" in r.getMessage() for r in caplog.records)


def test_anonymous_sessions_take_tls_from_the_environment_file():
    env = IrodsSettings(zone="z", environment_file="/env.json")
    environment = {"irods_host": "h", "irods_port": 1248, "irods_client_server_negotiation": "request_server_negotiation",
                   "irods_client_server_policy": "CS_NEG_REQUIRE", "irods_ssl_verify_server": "hostname",
                   "irods_ssl_ca_certificate_file": "/ca.pem", "irods_encryption_algorithm": "AES-256-CBC",
                   "irods_encryption_key_size": 32, "irods_encryption_num_hash_rounds": 16,
                   "irods_encryption_salt_size": 8, "irods_user_name": "rods", "irods_password": "not-copied"}
    anon = session_kwargs(env, anonymous=True, environment=environment)
    assert anon["irods_client_server_policy"] == "CS_NEG_REQUIRE"
    assert anon["irods_ssl_ca_certificate_file"] == "/ca.pem" and anon["irods_encryption_key_size"] == 32
    assert (anon["user"], anon["password"], "irods_password" in anon) == ("anonymous", "", False)
    plain = session_kwargs(env, anonymous=True, environment={"irods_host": "h", "irods_port": 1248})
    assert not [k for k in plain if k.startswith("irods_")]


# -- catalogue work per request ---------------------------------------------------------------------------------


def test_a_warm_get_reads_the_ticket_row_and_the_object_only(backend, zone, clock):
    ticket = create(backend)
    clock.now = NOW + timedelta(seconds=3)  # the ticket was not changed in the last seconds (ticketmemo.settle)
    for _ in range(2):
        zone.queries.clear()
        with backend.open_session(ticket, "alice", client_host=None, now=clock(), window=10) as s:
            s.stat("/tempZone/home/alice/ds1/a.txt")
            with s.open_read("/tempZone/home/alice/ds1/a.txt") as stream:
                assert stream.read() == b"hello"
    # The second request: the ticket's row, the object's row, its s3.* AVUs; nothing else.
    assert len(zone.queries) == 3, [q["columns"][:2] for q in zone.queries]


def test_a_changed_ticket_row_is_read_in_full_again(backend, zone, clock):
    ticket = create(backend, users=["bob"])
    clock.now = NOW + timedelta(seconds=3)
    with backend.open_session(ticket, "bob", client_host=None, now=clock()):
        pass
    # Changed in iRODS (iticket mod), not through this backend: the row's modify_ts moves, the memo is not used.
    zone.tickets[ticket.id].users = ["carol"]
    zone.tickets[ticket.id].modified = clock.now = NOW + timedelta(seconds=4)
    with pytest.raises(errors.TicketUserExcluded):
        backend.open_session(ticket, "bob", client_host=None, now=clock())


def test_a_row_changed_in_the_second_it_was_read_is_not_trusted(backend, zone, clock):
    ticket = create(backend, users=["bob"])
    # Read in full in the second of the last change: a change later in that second would leave the row's stamp
    # as it was, so the read is not reused until the row has settled.
    with backend.open_session(ticket, "bob", client_host=None, now=clock()):
        pass
    zone.tickets[ticket.id].users = ["carol"]  # the same second: modify_ts unchanged
    with pytest.raises(errors.TicketUserExcluded):
        backend.open_session(ticket, "bob", client_host=None, now=clock())


def test_a_limits_only_patch_moves_the_ticket_row(backend, zone, clock):
    ticket = create(backend, uses_limit=1)
    before = zone.tickets[ticket.id].modified
    clock.now = NOW + timedelta(seconds=5)
    backend.modify_ticket(ALICE, ticket.id, TicketChanges(uses_limit=2), now=clock())
    assert zone.tickets[ticket.id].modified > before  # every instance's memo sees the new limit
    assert [c.args[1:] for c in ticket_calls(zone)][-1] == ("expire", "0")  # the expiry it had: none


def test_a_ticket_page_reads_one_batch_not_every_row_after_the_cursor(backend, zone):
    for _ in range(BATCH * 2 + 50):
        create(backend)
    zone.rows_sent = 0
    page = backend.list_tickets(ALICE, TicketQuery(limit=2))
    assert len(page.items) == 2 and page.next_cursor is not None
    assert zone.rows_sent <= BATCH + 1 + 20  # one scan batch and the two tickets' allow-lists and counters


def test_listing_pages_cost_the_same_at_the_start_and_the_end_of_a_collection(backend, zone):
    root = "/tempZone/home/alice/ds1/many"
    names = [f"k{i:05d}" for i in range(3000)]
    for name in names:
        zone.put(f"{root}/{name}", b"1", "alice")
    ticket = create(backend)
    sent = []
    for start_after in (None, f"{root}/{names[-12]}"):
        with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
            zone.rows_sent = 0
            listing = s.list(root, recursive=True, start_after=start_after)
            page = [next(listing).path for _ in range(10)]
            listing.close()
            sent.append(zone.rows_sent)
        first = 0 if start_after is None else len(names) - 11
        assert page == [f"{root}/{n}" for n in names[first:first + 10]]
    assert max(sent) <= 600, sent  # one batch of objects (and whatever else one query brings), not 3,000 rows


def test_listing_order_holds_for_names_that_sort_around_a_slash(backend, zone):
    # S3 lists "a-b/" < "a.txt" < "a/" < "a0", while the catalog orders the collection names "a" < "a-b".
    root = "/tempZone/home/alice/ds1/tricky"
    for name in ("a/x", "a-b/y", "a.txt", "a0", "it's.txt", "it's/z", "Z", "é"):
        zone.put(f"{root}/{name}", b"1", "alice")
    ticket = create(backend)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        keys = [i.path[len(root) + 1:] for i in s.list(root, recursive=True)]
        assert keys == sorted(keys, key=str.encode) == ["Z", "a-b/y", "a.txt", "a/x", "a0", "it's.txt", "it's/z",
                                                        "é"]
        for index, marker in enumerate(keys):
            after = [i.path[len(root) + 1:] for i in s.list(root, recursive=True, start_after=f"{root}/{marker}")]
            assert after == keys[index + 1:], marker
        flat = [i.path[len(root) + 1:] for i in s.list(root, recursive=False, start_after=f"{root}/a-b")]
        assert flat == ["a.txt", "a", "a0", "it's.txt", "it's", "é"]  # after the collection "a-b", past "a-b/y"


def test_without_verification_the_service_account_registers_the_md5(zone, clock):
    backend = IrodsBackend.from_settings(settings_for(zone, verify_checksum=False), session_factory=zone.session_factory,
                                         clock=clock, service_hosts=[zone.gateway_address])
    ticket = create(backend, access="write")
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        info = s.write("/tempZone/home/alice/ds1/fast.bin", io.BytesIO(b"payload"))
    opened = [options for _, mode, options in
              (call for session in zone.sessions for call in session.data_objects.open_calls) if mode == "w"]
    assert opened and kw.VERIFY_CHKSUM_KW not in opened[-1]  # iRODS does not read the object back
    assert zone.objects["/tempZone/home/alice/ds1/fast.bin"].checksum == info.etag == hashlib.md5(b"payload").hexdigest()
    backend.close()


def test_remembered_batch_ends_bound_later_pages_and_never_change_what_is_listed(backend, zone):
    root = "/tempZone/home/alice/ds1/ends"
    names = {f"k{i:05d}" for i in range(0, 3000, 2)}
    for name in names:
        zone.put(f"{root}/{name}", b"1", "alice")
    ticket = create(backend)

    def listed(limit=None):
        with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
            zone.rows_sent = 0
            found = []
            for info in s.list(root, recursive=True):
                found.append(info.path.rsplit("/", 1)[1])
                if len(found) == limit:
                    break
            return found, zone.rows_sent

    everything, cold = listed()
    assert everything == sorted(names)
    _, warm = listed(limit=10)
    assert warm <= 600 < cold  # one remembered range, not the rest of the collection
    # The hints go stale: names removed and added inside the remembered ranges are listed as they are now.
    for name in sorted(names)[100:900]:
        del zone.objects[f"{root}/{name}"]
        names.discard(name)
    for i in range(1, 3000, 7):
        zone.put(f"{root}/k{i:05d}", b"1", "alice")
        names.add(f"k{i:05d}")
    assert listed()[0] == sorted(names)
