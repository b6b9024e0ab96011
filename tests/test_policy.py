"""The pure ticket policy: create/PATCH validation, status, allow-lists, usability and actions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ticketbooth import policy
from ticketbooth.errors import (
    InvalidRequest,
    PermissionDenied,
    TicketExhausted,
    TicketExpired,
    TicketGroupExcluded,
    TicketHostExcluded,
    TicketUserExcluded,
)
from ticketbooth.model import UNSET, Access, Actor, TargetKind, Ticket, TicketStatus

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
ALICE = Actor("alice")
PATH = "/tempZone/home/alice/ds1"
ANON = policy.AnonymousPolicy(allow_write=False, max_lifetime=7 * 86400, default_expiry=86400)


def spec(**request):
    return policy.build_spec(ALICE, PATH, now=NOW, anonymous_policy=ANON, **request)


def ticket(**fields):
    base = dict(id=1, string="S" * 15, path=PATH, target_kind=TargetKind.COLLECTION, access=Access.READ,
                owner="alice", users=("alice",))
    return Ticket(**{**base, **fields})


# -- build_spec -------------------------------------------------------------------------------------------

def test_user_scoped_defaults_to_the_caller():
    result = spec()
    assert (result.users, result.groups, result.access, result.expires_at, result.anonymous) == (
        ("alice",), (), Access.READ, None, False)
    assert spec(groups=["lab"]).users == ()


def test_lists_are_deduplicated_in_order_and_hosts_canonical():
    result = spec(users=["bob", "carol", "bob"], hosts=["192.0.2.7/32", "192.0.2.0/24", "2001:db8::1", "192.0.2.7"])
    assert result.users == ("bob", "carol")
    assert result.hosts == ("192.0.2.7", "192.0.2.0/24", "2001:db8::1")


@pytest.mark.parametrize("request_", [
    {"access": "own"}, {"users": ["bad name"]}, {"users": ["a/b"]}, {"users": [""]}, {"groups": [7]},
    {"hosts": ["example.org"]}, {"hosts": ["192.0.2.1/24"]}, {"uses_limit": -1}, {"uses_limit": True},
    {"uses_limit": 2**31}, {"uses_limit": "3"}, {"write_byte_limit": 2**63}, {"write_file_limit": 1},
    {"expires_in": 0}, {"expires_in": 2**31}, {"expires_in": 10, "expires_at": NOW + timedelta(hours=1)},
    {"expires_at": NOW}, {"expires_at": datetime(2031, 1, 1)}, {"label": "x" * 257}, {"label": "a\nb"},
    {"users": ["anonymous"]}, {"users": [f"u{i}" for i in range(65)]},
])
def test_invalid_create_requests(request_):
    with pytest.raises(InvalidRequest):
        spec(**request_)


def test_write_limits_on_write_tickets():
    result = spec(access="write", write_file_limit=3, write_byte_limit=2**63 - 1, uses_limit=2**31 - 1)
    assert (result.access, result.write_file_limit, result.write_byte_limit) == (Access.WRITE, 3, 2**63 - 1)


def test_expiry_is_whole_seconds_never_earlier_than_asked():
    assert spec(expires_in=90).expires_at == NOW + timedelta(seconds=90)
    asked = NOW + timedelta(seconds=10, microseconds=1)
    assert spec(expires_at=asked).expires_at == NOW + timedelta(seconds=11)
    other_zone = datetime(2030, 1, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert spec(expires_at=other_zone).expires_at == NOW + timedelta(hours=1)


def test_anonymous_rules():
    result = spec(anonymous=True)
    assert result.anonymous and result.users == () and result.expires_at == NOW + timedelta(seconds=86400)
    with pytest.raises(PermissionDenied):
        spec(anonymous=True, access="write")
    allowed = policy.build_spec(ALICE, PATH, now=NOW, anonymous_policy=policy.AnonymousPolicy(allow_write=True),
                                anonymous=True, access="write")
    assert allowed.access is Access.WRITE
    with pytest.raises(InvalidRequest):
        spec(anonymous=True, users=["bob"])
    with pytest.raises(InvalidRequest):
        spec(anonymous=True, expires_in=7 * 86400 + 1)
    assert spec(anonymous=True, expires_in=7 * 86400).expires_at == NOW + timedelta(days=7)


# -- apply_changes ----------------------------------------------------------------------------------------

def changes(t, **request):
    return policy.apply_changes(t, now=NOW, anonymous_policy=ANON, **request)


def test_unset_fields_stay_unset():
    result = changes(ticket(), uses_limit=4)
    assert result.uses_limit == 4 and result.users is UNSET and result.expires_at is UNSET and not result.is_empty()
    assert changes(ticket()).is_empty()


def test_clearing_and_setting():
    result = changes(ticket(), expires_at=None, label=None, users=["bob"], hosts=[])
    assert (result.expires_at, result.label, result.users, result.hosts) == (None, None, ("bob",), ())
    assert changes(ticket(), expires_in=60).expires_at == NOW + timedelta(seconds=60)


@pytest.mark.parametrize("request_", [
    {"users": [], "groups": []}, {"users": []}, {"uses_limit": -5}, {"write_file_limit": 2},
    {"users": ["anonymous"]}, {"expires_at": NOW - timedelta(seconds=1)}, {"hosts": ["nope"]},
])
def test_invalid_changes_to_a_user_ticket(request_):
    with pytest.raises(InvalidRequest):
        changes(ticket(), **request_)


def test_anonymous_ticket_changes():
    public = ticket(users=(), expires_at=NOW + timedelta(days=1))
    with pytest.raises(InvalidRequest):
        changes(public, users=["bob"])
    with pytest.raises(InvalidRequest):
        changes(public, expires_at=None)
    with pytest.raises(InvalidRequest):
        changes(public, expires_in=8 * 86400)
    assert changes(public, expires_in=3600).expires_at == NOW + timedelta(hours=1)
    # An existing anonymous write ticket may be extended even where new ones are read-only.
    assert changes(ticket(users=(), access=Access.WRITE), expires_in=60).expires_at is not None


def test_user_ticket_may_keep_only_groups():
    assert changes(ticket(groups=("lab",)), users=[]).users == ()


# -- status, management, admission ------------------------------------------------------------------------

def test_ticket_status():
    assert policy.ticket_status(ticket(), NOW) is TicketStatus.ACTIVE
    assert policy.ticket_status(ticket(expires_at=NOW), NOW) is TicketStatus.EXPIRED
    assert policy.ticket_status(ticket(expires_at=NOW + timedelta(seconds=1)), NOW) is TicketStatus.ACTIVE
    assert policy.ticket_status(ticket(uses_limit=2, uses_count=2), NOW) is TicketStatus.EXHAUSTED
    assert policy.ticket_status(ticket(uses_limit=0, uses_count=99), NOW) is TicketStatus.ACTIVE
    both = ticket(uses_limit=1, uses_count=1, expires_at=NOW)
    assert policy.ticket_status(both, NOW) is TicketStatus.EXPIRED


def test_can_manage():
    assert policy.can_manage(ALICE, ticket()) and policy.can_manage(Actor("rods", True), ticket())
    assert not policy.can_manage(Actor("bob"), ticket(users=("bob",)))


def test_admits():
    t = ticket(users=("bob",), groups=("lab",))
    assert policy.admits(t, "bob") and policy.admits(t, "carol", ["lab"])
    assert not policy.admits(t, "carol", ["other"]) and not policy.admits(t, "alice")
    assert policy.admits(ticket(users=()), "anyone") and policy.admits(ticket(users=()), policy.ANONYMOUS_USER)


@pytest.mark.parametrize("users", [(), ("bob",), ("bob", "carol")])
@pytest.mark.parametrize("groups", [(), ("lab",)])
@pytest.mark.parametrize("user", ["bob", "carol", "dave", policy.ANONYMOUS_USER])
@pytest.mark.parametrize("user_groups", [(), ("lab",), ("other",)])
def test_needs_groups_only_where_admits_depends_on_them(users, groups, user, user_groups):
    t = ticket(users=users, groups=groups)
    given = user_groups if policy.needs_groups(t, user) else ()
    assert policy.admits(t, user, given) == policy.admits(t, user, user_groups)


@pytest.mark.parametrize("hosts, client, expected", [
    ((), None, True), ((), "198.51.100.1", True), (("192.0.2.7",), "192.0.2.7", True),
    (("192.0.2.7",), "192.0.2.8", False), (("192.0.2.0/24",), "192.0.2.255", True),
    (("192.0.2.0/24",), None, False), (("192.0.2.0/24",), "garbage", False),
    (("2001:db8::/32",), "2001:db8::5", True), (("2001:db8::/32",), "192.0.2.1", False),
])
def test_host_admitted(hosts, client, expected):
    assert policy.host_admitted(ticket(hosts=hosts), client) is expected


def test_check_usable_names_the_reason():
    policy.check_usable(ticket(), "alice", (), None, NOW)
    cases = [
        (ticket(expires_at=NOW), "alice", TicketExpired),
        (ticket(uses_limit=1, uses_count=1), "alice", TicketExhausted),
        (ticket(users=("bob",)), "alice", TicketUserExcluded),
        (ticket(users=(), groups=("lab",)), "carol", TicketGroupExcluded),
        (ticket(users=("bob",), groups=("lab",)), "carol", TicketUserExcluded),
        (ticket(hosts=("192.0.2.7",)), "alice", TicketHostExcluded),
    ]
    for t, holder, error in cases:
        with pytest.raises(error):
            policy.check_usable(t, holder, (), "198.51.100.1", NOW)
    policy.check_usable(ticket(users=(), groups=("lab",)), "carol", ("lab",), None, NOW)
    policy.check_usable(ticket(users=()), policy.ANONYMOUS_USER, (), None, NOW)


def test_action_allowed():
    for action in policy.READ_ACTIONS:
        assert policy.action_allowed(ticket(), action) and policy.action_allowed(ticket(access=Access.WRITE), action)
    for action in policy.WRITE_ACTIONS:
        assert not policy.action_allowed(ticket(), action)
        assert policy.action_allowed(ticket(access=Access.WRITE), action)
    assert not policy.action_allowed(ticket(access=Access.WRITE), "own")


@pytest.mark.parametrize(("uses_limit", "continuing", "needed"), [
    (0, False, False),  # no limit: the count decides nothing
    (0, True, False),
    (5, False, True),  # a new use under a limit: counted atomically with the check
    (5, True, False),  # continuing a use already counted
])
def test_needs_counted_use(uses_limit, continuing, needed):
    assert policy.needs_counted_use(ticket(uses_limit=uses_limit), continuing=continuing) is needed
