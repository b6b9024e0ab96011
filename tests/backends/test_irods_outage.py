"""The iRODS backend when the zone goes away and comes back, on the test double (which models an outage as
observed on a real zone: tests/e2e/test_zone_outage.py pins it and runs the same story end to end).

Pure pieces first (which failures are network failures, the repairs queue), then the backend: the service
session renewed after a restart, parked and streaming data sessions, and each operation cut short at a chosen
point — nothing half-done is left once the owed repairs have run.
"""
from __future__ import annotations

import io
import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from irods.exception import SYS_HEADER_READ_LEN_ERR, NetworkException

from ticketbooth import errors, policy
from ticketbooth.backends.irods import IrodsBackend
from ticketbooth.backends.irods import data as irods_data
from ticketbooth.backends.irods.backend import DORMANT, activation_step, creation_steps, restoring_changes
from ticketbooth.backends.irods.connection import Connector, ProxiedSessions, closed_by_server
from ticketbooth.backends.irods.errors import RETRY_AFTER_SECONDS, is_network_failure, translate
from ticketbooth.backends.irods.repairs import Repairs
from ticketbooth.model import Actor, TicketChanges, TicketQuery
from ticketbooth.settings import IrodsSettings, Settings

from .irods_double import FakeZone

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
STATE = "/tempZone/home/rods/.ticketbooth"
ALICE = Actor("alice")
ANON = policy.AnonymousPolicy(allow_write=True)


# -- which failures are network failures ----------------------------------------------------------------------


def _caused(cause: BaseException) -> errors.TicketBoothError:
    try:
        raise translate(cause) from cause
    except errors.TicketBoothError as err:
        return err


@pytest.mark.parametrize("exc", [
    NetworkException("Could not receive server response"), NetworkException("Unable to send message"),
    ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(), TimeoutError("timed out"),
    OSError("Read 0 bytes from socket instead of expected 4 bytes"),
    SYS_HEADER_READ_LEN_ERR(), KeyError(-4000), KeyError(-305111),  # (a bare KeyError: a code without a class)
], ids=repr)
def test_network_failures_are_backend_unavailable_with_retry_after(exc):
    assert is_network_failure(exc)
    mapped = translate(exc)
    assert isinstance(mapped, errors.BackendUnavailable) and mapped.status == 503
    assert mapped.retry_after == RETRY_AFTER_SECONDS > 0
    assert is_network_failure(_caused(exc))  # also once mapped (raise ... from)


@pytest.mark.parametrize("exc", [KeyError(-893000), KeyError("x"), FileNotFoundError(), PermissionError(),
                                 ValueError("bad"), errors.TicketExpired(), errors.BackendUnavailable()], ids=repr)
def test_other_failures_are_not_network_failures(exc):
    assert not is_network_failure(exc)


# -- the repairs queue ----------------------------------------------------------------------------------------


def test_repairs_run_in_order_keep_what_finds_the_zone_away_and_drop_what_fails_otherwise(caplog):
    repairs, done, zone_up = Repairs(autostart=False), [], {"up": False}

    def needs_zone(name):
        def action():
            if not zone_up["up"]:
                raise NetworkException("Could not connect to specified host and port: 127.0.0.1:1247")
            done.append(name)
        return action

    def broken():
        raise ValueError("a bug")

    repairs.add("first", needs_zone("first"))
    repairs.add("hopeless", broken)
    repairs.add("second", needs_zone("second"))
    assert repairs.run_pending() == 3 and done == []  # the round stops at the first: nothing overtakes it
    zone_up["up"] = True
    with caplog.at_level(logging.INFO):
        assert repairs.run_pending() == 0
    assert done == ["first", "second"] and repairs.pending() == []
    assert "gave up on: hopeless (ValueError)" in caplog.text


def test_repairs_retry_by_themselves_in_a_thread_that_ends_when_nothing_is_left():
    repairs, attempts = Repairs(interval=0.01), []

    def action():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise errors.BackendUnavailable("the ticket's counters are busy")  # also kept: retried

    repairs.add("flaky", action)
    deadline = time.monotonic() + 5
    while repairs.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert repairs.pending() == [] and len(attempts) == 3
    while repairs._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert repairs._thread is None
    repairs.close()


# -- idle connections the server closed ---------------------------------------------------------------------


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock


class _Pooled:
    """Just what closed_by_server reads of an iRODSSession: its pool's idle connections and their sockets."""

    def __init__(self, *socks: socket.socket) -> None:
        self.pool = type("Pool", (), {"idle": {_Connection(s) for s in socks}})()


def test_an_idle_connection_the_server_closed_is_seen_and_the_service_session_renewed():
    ours, theirs = socket.socketpair()
    other, peer = socket.socketpair()
    try:
        made = []

        def factory(**kwargs):
            made.append(_Pooled(ours, other) if not made else _Pooled())
            return made[-1]

        connector = Connector(IrodsSettings(host="irods", zone="z", user="rods", password="pw"), factory)
        first = connector.service()
        assert not closed_by_server(first) and connector.service() is first  # silent while they live
        theirs.close()  # the server went away: its end of the connection is closed
        assert closed_by_server(first)
        assert connector.service() is made[1] and connector.generation == 1
    finally:
        for sock in (ours, other, peer):
            sock.close()


def test_a_session_without_sockets_or_with_a_closed_one():
    assert not closed_by_server(object()) and not closed_by_server(_Pooled())
    sock, peer = socket.socketpair()
    sock.close()
    peer.close()
    assert closed_by_server(_Pooled(sock))  # closed on our side: select refuses it


def test_a_kept_owner_session_whose_idle_connection_the_server_closed_is_not_lent_again():
    ours, theirs = socket.socketpair()
    try:
        made = []

        def make(user):
            made.append(_Pooled(ours) if not made else _Pooled())
            return made[-1]

        owners = ProxiedSessions(make, max_idle=2)
        first = owners.take("alice")
        owners.give("alice", first, healthy=True)
        assert owners.take("alice") is first  # kept while its connection lives
        owners.give("alice", first, healthy=True)
        theirs.close()  # the server restarted
        assert owners.take("alice") is made[1] and len(made) == 2
    finally:
        ours.close()


# -- the steps of a create --------------------------------------------------------------------------------------


def test_a_ticket_is_issued_expired_and_brought_to_life_by_the_last_step():
    spec = policy.build_spec(ALICE, "/tempZone/home/alice/ds1", now=NOW, anonymous_policy=ANON, users=["bob"],
                             expires_in=60)
    assert creation_steps(spec)[0] == DORMANT == ("expire", "1")
    assert activation_step(spec) == ("expire", str(int(spec.expires_at.timestamp())))
    forever = policy.build_spec(ALICE, "/tempZone/home/alice/ds1", now=NOW, anonymous_policy=ANON)
    assert activation_step(forever) == ("expire", "0")  # iRODS clears an expiry given as 0


# -- the backend on the double ------------------------------------------------------------------------------------


@pytest.fixture
def zone():
    zone = FakeZone(clock=lambda: NOW)
    for user in ("alice", "bob", "carol"):
        zone.add_user(user)
    zone.put("/tempZone/home/alice/ds1/a.txt", b"hello", "alice")
    return zone


@pytest.fixture
def backend(zone):
    settings = Settings(backend="irods", irods=IrodsSettings(
        host="127.0.0.1", zone=zone.zone, user=zone.admin, password=zone.password, connection_timeout=0.2))
    backend = IrodsBackend.from_settings(settings, session_factory=zone.session_factory, clock=lambda: NOW,
                                         service_hosts=[zone.gateway_address], repairs=Repairs(autostart=False))
    yield backend
    backend.close()


def create(backend, path="/tempZone/home/alice/ds1", **request):
    spec = policy.build_spec(ALICE, path, now=NOW, anonymous_policy=ANON, **request)
    return backend.create_ticket(ALICE, spec, now=NOW)


def restart(zone):
    zone.stop()
    zone.start()


def test_after_a_restart_the_first_catalog_read_succeeds_on_a_renewed_service_session(backend, zone):
    ticket = create(backend)
    service = backend._connector.service()
    assert service.pool.idle  # a pooled connection that learns nothing of the restart
    restart(zone)
    assert backend.find_ticket(ticket.id) == ticket  # the stale connection failed once; the read ran again
    assert backend._connector.service() is not service
    backend.check_ready()
    assert [t.id for t in backend.list_tickets(ALICE, TicketQuery()).items] == [ticket.id]


def test_a_change_is_not_repeated_after_a_network_failure_but_the_next_call_works(backend, zone):
    backend._connector.service().collections.get("/tempZone/home")  # one pooled connection
    restart(zone)
    with pytest.raises(errors.BackendUnavailable):
        backend._connector.call_service(
            lambda: backend._connector.service().collections.create("/tempZone/home/rods/x", recurse=True))
    assert "/tempZone/home/rods/x" not in zone.collections
    backend._connector.call_service(
        lambda: backend._connector.service().collections.create("/tempZone/home/rods/x", recurse=True))
    assert "/tempZone/home/rods/x" in zone.collections


def test_while_the_zone_is_down_every_call_is_backend_unavailable_and_ready_is_red(backend, zone):
    ticket = create(backend, access="write")
    zone.stop()
    for call in (backend.check_ready, lambda: backend.find_ticket(ticket.id),
                 lambda: backend.find_ticket_by_string(ticket.string), lambda: backend.get_ticket(ALICE, ticket.id),
                 lambda: backend.list_tickets(ALICE, TicketQuery()), lambda: create(backend),
                 lambda: backend.modify_ticket(ALICE, ticket.id, TicketChanges(label="x"), now=NOW),
                 lambda: backend.delete_ticket(ALICE, ticket.id), lambda: backend.user_groups("alice"),
                 lambda: backend.open_session(ticket, "alice", client_host=None, now=NOW)):
        with pytest.raises(errors.BackendUnavailable) as caught:
            call()
        assert caught.value.retry_after > 0
    zone.start()
    backend.check_ready()


def test_a_parked_session_whose_connection_died_is_replaced_and_the_use_continues(backend, zone):
    ticket = create(backend, uses_limit=5)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW, window=10) as session:
        session.stat("/tempZone/home/alice/ds1/a.txt")  # the ticket session has a connection now
    assert len(backend._warm._idle) == 1  # parked for the window
    restart(zone)
    later = NOW + timedelta(seconds=2)
    with backend.open_session(ticket, "alice", client_host=None, now=later, window=10) as session:
        assert session.stat("/tempZone/home/alice/ds1/a.txt").size == 5
    assert backend.find_ticket(ticket.id).uses_count == 1  # still the one use of the window


def test_a_parked_session_whose_connection_died_serves_a_listing_as_its_first_query(backend, zone):
    ticket = create(backend, uses_limit=5)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW, window=10) as session:
        session.stat("/tempZone/home/alice/ds1/a.txt")
    restart(zone)
    with backend.open_session(ticket, "alice", client_host=None, now=NOW + timedelta(seconds=2),
                              window=10) as session:
        listed = [i.path for i in session.list("/tempZone/home/alice/ds1", recursive=False)]
    assert "/tempZone/home/alice/ds1/a.txt" in listed
    assert backend.find_ticket(ticket.id).uses_count == 1


def test_a_read_cut_off_mid_body_is_backend_unavailable_and_its_session_is_never_parked(backend, zone):
    zone.put("/tempZone/home/alice/ds1/big.bin", b"x" * 4096, "alice")
    ticket = create(backend)
    session = backend.open_session(ticket, "alice", client_host=None, now=NOW, window=10)
    stream = session.open_read("/tempZone/home/alice/ds1/big.bin")
    assert stream.read(10) == b"x" * 10
    zone.stop()
    with pytest.raises(errors.BackendUnavailable):
        stream.read(100)
    stream.close()  # a dead connection has nothing left to close: no error
    session.close()
    assert session.broken and backend._warm._idle == []


def test_a_create_cut_short_leaves_an_expired_ticket_until_the_zone_answers_then_none(backend, zone):
    zone.stop_at(lambda call: call.command == "mod" and call.args[1:3] == ("add", "user"))
    with pytest.raises(errors.BackendUnavailable):
        create(backend, users=["bob"], expires_in=3600)
    (row,) = zone.tickets.values()
    assert int(row.expiry_ts) == 1  # dormant: refused by iRODS and by TicketBooth alike
    assert ["delete the ticket whose create on /tempZone/home/alice/ds1 was cut short"] == backend.repairs.pending()
    zone.start()
    half = backend.find_ticket(row.id)
    assert policy.ticket_status(half, NOW) is policy.TicketStatus.EXPIRED
    with pytest.raises(errors.TicketExpired):
        backend.open_session(half, "bob", client_host=None, now=NOW)
    assert backend.repairs.run_pending() == 0
    assert zone.tickets == {}


def test_a_create_whose_last_answer_was_lost_is_undone_too(backend, zone):
    zone.stop_at(lambda call: call.command == "mod" and call.args[1] == "expire" and call.args[2] != "1",
                 applied=True)
    with pytest.raises(errors.BackendUnavailable):
        create(backend, expires_in=3600)
    zone.start()
    assert backend.repairs.run_pending() == 0 and zone.tickets == {}
    assert not [a for a in zone.avus(STATE) if a.startswith("ticketbooth.counters.")]


@pytest.mark.parametrize("applied", [False, True], ids=["before-the-step", "answer-lost"])
def test_a_patch_cut_short_keeps_the_lock_until_the_ticket_is_put_back(backend, zone, applied):
    ticket = create(backend, users=["bob"], uses_limit=3)
    cut = ("remove", "user") if not applied else ("add", "user")
    zone.stop_at(lambda call: call.command == "mod" and call.args[1:3] == cut, applied=applied)
    with pytest.raises(errors.BackendUnavailable):
        backend.modify_ticket(ALICE, ticket.id, TicketChanges(users=("carol",), uses_limit=9), now=NOW)
    assert f"{STATE}/locks/{ticket.id}" in zone.collections  # kept: nothing sees the half-done change
    assert backend.repairs.pending() == [f"put ticket {ticket.id} back as it was before a change cut short"]
    zone.start()
    assert zone.tickets[ticket.id].users == ["bob", "carol"]  # the half-done state, locked away
    with pytest.raises(errors.BackendUnavailable, match="busy"):
        backend.open_session(ticket, "bob", client_host=None, now=NOW)
    assert backend.repairs.run_pending() == 0
    assert f"{STATE}/locks/{ticket.id}" not in zone.collections
    restored = backend.find_ticket(ticket.id)
    assert (restored.users, restored.uses_limit) == (("bob",), 3)
    backend.open_session(ticket, "bob", client_host=None, now=NOW).close()
    changed = backend.modify_ticket(ALICE, ticket.id, TicketChanges(users=("carol",)), now=NOW)  # works again
    assert changed.users == ("carol",)


def test_restoring_changes_name_the_original_expiry_and_allow_lists(backend, zone):
    ticket = create(backend, users=["bob"], expires_in=60)
    changes = restoring_changes(ticket)
    assert (changes.expires_at, changes.users, changes.groups, changes.hosts) == (
        ticket.expires_at, ("bob",), (), ())


def test_a_counter_lock_whose_release_failed_is_released_once_the_zone_answers(backend, zone):
    ticket = create(backend, uses_limit=3)
    zone.stop_at(lambda call: call.command == "avu:set" and call.args[1] == STATE)
    with pytest.raises(errors.BackendUnavailable):
        backend.open_session(ticket, "alice", client_host=None, now=NOW)
    assert f"{STATE}/locks/{ticket.id}" in zone.collections
    assert backend.repairs.pending() == [f"release the counter lock of ticket {ticket.id}"]
    zone.start()
    assert backend.repairs.run_pending() == 0 and f"{STATE}/locks/{ticket.id}" not in zone.collections
    backend.open_session(ticket, "alice", client_host=None, now=NOW).close()  # no 30 s wait for a stale lock
    assert backend.find_ticket(ticket.id).uses_count == 1  # the use that failed counted nothing


def test_an_upload_cut_short_is_never_visible_and_gives_its_budget_back(backend, zone, monkeypatch):
    monkeypatch.setattr(irods_data, "CHUNK", 1024)
    ticket = create(backend, access="write", write_file_limit=2)
    path = "/tempZone/home/alice/ds1/new.bin"
    zone.stop_after_bytes = 1024  # the server goes away after the first chunk
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as session:
        with pytest.raises(errors.BackendUnavailable):
            session.write(path, io.BytesIO(b"n" * 4096))
    assert (zone.objects[path].data, zone.objects[path].replica_status) == (b"n" * 1024, "0")  # stale, partial
    assert backend.repairs.pending() == [f"remove the partial object a failed write left at {path}",
                                         f"give back the write budget of a failed write on ticket {ticket.id}"]
    zone.start()
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as session:
        with pytest.raises(errors.PathNotFound):
            session.stat(path)  # a stale replica is not the object
        assert [i.path for i in session.list("/tempZone/home/alice/ds1", recursive=True)] == [
            "/tempZone/home/alice/ds1/a.txt"]
    assert backend.repairs.run_pending() == 0
    assert path not in zone.objects and backend.find_ticket(ticket.id).write_file_count == 0


def test_the_partial_object_is_kept_when_a_later_write_completed_it(backend, zone):
    ticket = create(backend, access="write")
    path = "/tempZone/home/alice/ds1/new.bin"
    zone.stop_after_bytes = 1
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as session:
        with pytest.raises(errors.BackendUnavailable):
            session.write(path, io.BytesIO(b"first"))
    zone.start()
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as session:
        session.write(path, io.BytesIO(b"second"))
    assert backend.repairs.run_pending() == 0
    assert zone.objects[path].data == b"second"
