"""The use window on the iRODS backend (test double): within the window a key pair's requests run on one parked
connection, so iRODS itself counts one use for them; the window's end, a failure or revocation ends that."""
from __future__ import annotations

from datetime import timedelta

import pytest

from ticketbooth import errors

from . import test_irods_unit as unit
from .test_irods_unit import ALICE, NOW, create

# The unit tests' double zone, clock and backend fixtures.
clock, zone, backend = unit.clock, unit.zone, unit.backend

DS1 = "/tempZone/home/alice/ds1"


def use(backend, ticket, when, holder="alice", window=60.0, read=True):
    with backend.open_session(ticket, holder, client_host=None, now=when, window=window) as s:
        if read:
            with s.open_read(f"{DS1}/a.txt") as f:
                assert f.read() == b"hello"


def test_requests_within_the_window_share_one_connection_and_one_irods_use(backend, zone):
    ticket = create(backend, uses_limit=2)
    before = len(zone.sessions)
    for seconds in (0, 30, 60, 90):
        use(backend, ticket, NOW + timedelta(seconds=seconds))
    assert len(zone.sessions) - before == 1 and backend.find_ticket(ticket.id).uses_count == 1
    use(backend, ticket, NOW + timedelta(seconds=200))  # a gap longer than the window: a new connection
    assert len(zone.sessions) - before == 2 and backend.find_ticket(ticket.id).uses_count == 2
    assert zone.sessions[before].cleaned_up  # the first connection was closed when its window passed


def test_the_last_use_goes_on_within_its_window_and_then_the_limit_holds(backend, zone):
    ticket = create(backend, uses_limit=1)
    use(backend, ticket, NOW)
    use(backend, ticket, NOW + timedelta(seconds=10))  # continues: iRODS sees the same connection
    with pytest.raises(errors.TicketExhausted):
        use(backend, ticket, NOW + timedelta(seconds=100))
    assert backend.find_ticket(ticket.id).uses_count == 1


def test_holders_do_not_share_connections(backend, zone):
    ticket = create(backend, users=["bob", "carol"])
    use(backend, ticket, NOW, "bob")
    use(backend, ticket, NOW, "carol")
    use(backend, ticket, NOW + timedelta(seconds=1), "bob")
    users = [s.kwargs.get("client_user") for s in zone.sessions if s.ticket__ == ticket.string]
    assert sorted(users) == ["bob", "carol"]


def test_revocation_is_judged_before_a_parked_connection_is_reused(backend, zone):
    ticket = create(backend)
    use(backend, ticket, NOW)
    backend.delete_ticket(ALICE, ticket.id)
    with pytest.raises(errors.TicketNotFound):
        use(backend, ticket, NOW + timedelta(seconds=1))


def test_zero_window_keeps_a_fresh_connection_per_request(backend, zone):
    ticket = create(backend, uses_limit=5)
    before = len(zone.sessions)
    for _ in range(3):
        use(backend, ticket, NOW, window=0)
    assert len(zone.sessions) - before == 3 and backend.find_ticket(ticket.id).uses_count == 3
    assert all(s.cleaned_up for s in zone.sessions[before:])


def test_closing_the_backend_closes_parked_connections(backend, zone):
    ticket = create(backend)
    before = len(zone.sessions)
    use(backend, ticket, NOW)
    assert not zone.sessions[before].cleaned_up
    backend.close()
    assert zone.sessions[before].cleaned_up
