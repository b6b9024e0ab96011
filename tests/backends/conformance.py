"""The backend conformance suite: every backend runs these mixins with its own fixtures (fsspec style).

A backend's test module provides, as fixtures (methods of a ``*Fixtures`` class are fine):

``clock``
    A :class:`FakeClock` the backend was built with; tests pass ``now=clock()`` and advance it.
``backend``
    A fresh :class:`~ticketbooth.backends.base.TicketBackend` in which the users ``alice``, ``bob`` and
    ``carol`` exist and the group ``lab`` has exactly the members ``alice`` and ``bob``.
``make_actor``
    ``make_actor(name, is_admin=False) -> Actor``; provisions the user when the backend needs that.
``make_path``
    ``make_path(owner, relative, content=None) -> str``: creates, in ``owner``'s home, the collection
    ``relative`` (``content`` None) or the data object ``relative`` holding ``content`` (parents created), and
    returns its absolute logical path; a data object's MD5 is known to the backend (as after a write through it).
``place_by_hand``
    ``place_by_hand(owner, relative, content) -> str``: puts or replaces the data object ``relative`` in
    ``owner``'s home past TicketBooth, as an operator or a pipeline would, so the backend does not know its MD5
    (embedded: a new file renamed into place on disk; iRODS: written without a checksum, as ``iput`` without
    ``-k``); parents are created; returns its absolute logical path.

Then: ``class TestMineCatalogue(TicketCatalogueTests, MineFixtures): pass`` and likewise for
:class:`TicketUsageTests`, :class:`DataSessionTests` and :class:`ObjectMetadataTests`. Nothing here knows how a backend stores anything.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import io
import re
import string
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ticketbooth import errors, policy
from ticketbooth.backends.base import ObjectLayout, ObjectMetadata
from ticketbooth.model import Access, TargetKind, TicketChanges, TicketQuery, TicketStatus

__all__ = ["BackendCapabilities", "FakeClock", "TicketCatalogueTests", "TicketUsageTests", "UseWindowTests",
           "DataSessionTests", "ObjectMetadataTests"]

ANON_POLICY = policy.AnonymousPolicy(allow_write=True, max_lifetime=30 * 86400, default_expiry=86400)


class FakeClock:
    """An injectable clock: ``clock()`` is the current (UTC-aware) instant; ``advance`` moves it on."""

    def __init__(self, start: datetime = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class BackendCapabilities:
    """What a backend can represent. A fixture class subclasses this and turns off what its backend cannot keep
    (documenting why); the tests then check the documented refusal instead of the full behaviour."""

    supports_host_networks = True  # CIDR networks in host allow-lists, not only single addresses
    supports_ipv6_hosts = True  # IPv6 addresses in host allow-lists
    accepts_unknown_users = True  # allow-listing users who were never seen (provisioned on first login)

    def settle(self, backend) -> None:
        """Let ``backend`` write what it batches, as real time would between requests seconds apart (the fake
        clock moves on without it); nothing by default."""


class _Helpers(BackendCapabilities):
    """Shared helpers: create tickets the way the API does (through ``policy.build_spec``)."""

    @pytest.fixture
    def alice(self, make_actor):
        return make_actor("alice")

    @pytest.fixture
    def bob(self, make_actor):
        return make_actor("bob")

    @pytest.fixture
    def carol(self, make_actor):
        return make_actor("carol")

    @pytest.fixture
    def admin(self, make_actor):
        return make_actor("rods", is_admin=True)

    @pytest.fixture
    def ds1(self, make_path, alice):
        make_path("alice", "ds1/data/measurements.csv", b"t,v\n1,2\n")
        make_path("alice", "ds1/README.txt", b"readme")
        return make_path("alice", "ds1")

    @pytest.fixture
    def ds10(self, make_path, alice):
        make_path("alice", "ds10/notes.txt", b"ds10 notes")
        return make_path("alice", "ds10")

    def assert_refused(self, backend, clock, actor, path, field, **request):
        """An unsupported request is refused with ``InvalidRequest`` naming ``field``, and creates nothing."""
        with pytest.raises(errors.InvalidRequest) as caught:
            self.create(backend, clock, actor, path, **request)
        assert caught.value.details.get("field") == field
        assert backend.list_tickets(actor, TicketQuery(path=path)).items == ()
        return caught.value

    @staticmethod
    def create(backend, clock, actor, path, **request):
        spec = policy.build_spec(actor, path, now=clock(), anonymous_policy=ANON_POLICY, **request)
        return backend.create_ticket(actor, spec, now=clock())

    @staticmethod
    def changes(ticket, clock, **request) -> TicketChanges:
        return policy.apply_changes(ticket, now=clock(), anonymous_policy=ANON_POLICY, **request)

    @staticmethod
    def ids(page) -> list[int]:
        return [t.id for t in page.items]

    @staticmethod
    def all_ids(backend, actor, **query) -> list[int]:
        """Walk every page of a query (small pages, to exercise the cursor)."""
        found, cursor = [], None
        while True:
            page = backend.list_tickets(actor, TicketQuery(limit=2, cursor=cursor, **query))
            found += [t.id for t in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return found


class TicketCatalogueTests(_Helpers):
    """Create, read, list, modify and delete tickets; who may see and manage what."""

    def test_create_returns_the_full_ticket(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write", uses_limit=5, write_file_limit=3,
                             write_byte_limit=1000, expires_in=3600, hosts=["192.0.2.7"], label="for bob",
                             users=["bob"], groups=["lab"])
        assert isinstance(ticket.id, int) and ticket.id > 0
        assert len(ticket.string) == 15 and set(ticket.string) <= set(string.ascii_letters + string.digits)
        assert (ticket.path, ticket.owner, ticket.access) == (ds1, "alice", Access.WRITE)
        assert ticket.target_kind is TargetKind.COLLECTION
        assert (ticket.users, ticket.groups, ticket.hosts) == (("bob",), ("lab",), ("192.0.2.7",))
        assert (ticket.uses_limit, ticket.write_file_limit, ticket.write_byte_limit) == (5, 3, 1000)
        assert (ticket.uses_count, ticket.write_file_count, ticket.write_byte_count) == (0, 0, 0)
        assert ticket.expires_at == (clock() + timedelta(seconds=3600)).replace(microsecond=0)
        assert ticket.label == "for bob" and not ticket.anonymous
        # A real zone stamps creation with its own clock, and the test clock was read when the fixtures started:
        # on a loaded machine the fixtures (users, collections, objects) take seconds, so allow for that.
        assert abs(ticket.created_at - clock()) <= timedelta(seconds=15)
        assert backend.find_ticket(ticket.id) == ticket

    def test_user_scoped_ticket_defaults_to_its_creator(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        assert ticket.users == ("alice",) and ticket.access is Access.READ and not ticket.anonymous

    def test_data_object_ticket(self, backend, clock, alice, make_path):
        path = make_path("alice", "hello.txt", b"hi")
        assert self.create(backend, clock, alice, path).target_kind is TargetKind.DATA_OBJECT

    def test_ids_increase_and_strings_are_unique(self, backend, clock, alice, ds1):
        tickets = [self.create(backend, clock, alice, ds1) for _ in range(12)]
        ids = [t.id for t in tickets]
        assert ids == sorted(ids) and len(set(ids)) == 12
        assert len({t.string for t in tickets}) == 12

    def test_creating_needs_ownership_and_creates_nothing_otherwise(self, backend, clock, alice, bob, ds1):
        with pytest.raises(errors.PermissionDenied):
            self.create(backend, clock, bob, ds1)
        with pytest.raises(errors.PathNotFound):
            self.create(backend, clock, alice, ds1 + "/no-such-thing")
        with pytest.raises(errors.InvalidRequest):
            self.create(backend, clock, alice, ds1, groups=["no-such-group"])
        assert backend.list_tickets(bob, TicketQuery()).items == ()
        assert backend.list_tickets(alice, TicketQuery(path=ds1)).items == ()

    def test_allow_listed_users_need_not_exist_yet(self, backend, clock, alice, ds1):
        if self.accepts_unknown_users:
            assert self.create(backend, clock, alice, ds1, users=["newcomer"]).users == ("newcomer",)
        else:
            refused = self.assert_refused(backend, clock, alice, ds1, "users", users=["newcomer"])
            assert "newcomer" in refused.message

    def test_who_may_read_a_ticket(self, backend, clock, alice, bob, carol, admin, ds1):
        for_bob = self.create(backend, clock, alice, ds1, users=["bob"])
        for_lab = self.create(backend, clock, alice, ds1, groups=["lab"])
        public = self.create(backend, clock, alice, ds1, anonymous=True)
        for ticket in (for_bob, for_lab, public):
            assert backend.get_ticket(alice, ticket.id) == ticket
            assert backend.get_ticket(admin, ticket.id) == ticket
        assert backend.get_ticket(bob, for_bob.id).id == for_bob.id
        assert backend.get_ticket(bob, for_lab.id).id == for_lab.id
        for who, ticket in ((carol, for_bob), (carol, for_lab), (bob, public), (carol, public)):
            with pytest.raises(errors.TicketNotFound):
                backend.get_ticket(who, ticket.id)
        with pytest.raises(errors.TicketNotFound):
            backend.get_ticket(admin, public.id + 1000)

    def test_find_ticket_and_by_string(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        assert backend.find_ticket(ticket.id) == ticket
        assert backend.find_ticket(ticket.id + 1000) is None
        assert backend.find_ticket_by_string(ticket.string) == ticket
        assert backend.find_ticket_by_string(ticket.string.swapcase()) is None
        assert backend.find_ticket_by_string(ticket.string[:-1]) is None
        assert backend.find_ticket_by_string("") is None

    def test_owner_modifies_all_or_nothing(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write", label="old", expires_in=60)
        clock.advance(10)
        changed = backend.modify_ticket(alice, ticket.id, self.changes(
            ticket, clock, uses_limit=7, write_file_limit=2, write_byte_limit=99, users=["bob", "carol"],
            groups=["lab"], hosts=["198.51.100.7"], label=None, expires_at=None), now=clock())
        assert (changed.uses_limit, changed.write_file_limit, changed.write_byte_limit) == (7, 2, 99)
        assert (changed.users, changed.groups, changed.hosts) == (("bob", "carol"), ("lab",), ("198.51.100.7",))
        assert changed.label is None and changed.expires_at is None
        assert changed.modified_at > ticket.modified_at and changed.created_at == ticket.created_at
        assert changed.string == ticket.string
        # Fields left UNSET stay; a bad group refuses the whole change.
        same = backend.modify_ticket(alice, ticket.id, TicketChanges(label="new"), now=clock())
        assert same.uses_limit == 7 and same.users == ("bob", "carol") and same.label == "new"
        with pytest.raises(errors.InvalidRequest):
            backend.modify_ticket(alice, ticket.id, TicketChanges(uses_limit=1, groups=("nope",)), now=clock())
        assert backend.find_ticket(ticket.id) == same

    def test_stale_patches_never_merge_into_an_anonymous_ticket(self, backend, clock, alice, ds1):
        # Issue 9 item 6: two PATCHes, each valid against the ticket both read, applied one after the other.
        ticket = self.create(backend, clock, alice, ds1, access="write", users=["bob"])
        to_groups = self.changes(ticket, clock, users=[], groups=["lab"])
        drop_groups = self.changes(ticket, clock, groups=[])
        backend.modify_ticket(alice, ticket.id, to_groups, now=clock())
        with pytest.raises(errors.InvalidRequest) as caught:
            backend.modify_ticket(alice, ticket.id, drop_groups, now=clock())
        assert caught.value.details.get("field") == "users"
        after = backend.find_ticket(ticket.id)
        assert not after.anonymous and (after.users, after.groups) == ((), ("lab",))
        assert after.expires_at == ticket.expires_at

    def test_an_anonymous_ticket_never_gains_users_through_stale_changes(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, anonymous=True)
        with pytest.raises(errors.InvalidRequest):
            backend.modify_ticket(alice, ticket.id, TicketChanges(users=("bob",)), now=clock())
        assert backend.find_ticket(ticket.id).anonymous

    def test_only_owner_or_admin_modify_or_delete(self, backend, clock, alice, bob, admin, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob"])
        with pytest.raises(errors.TicketNotFound):
            backend.modify_ticket(bob, ticket.id, TicketChanges(uses_limit=1), now=clock())
        with pytest.raises(errors.TicketNotFound):
            backend.delete_ticket(bob, ticket.id)
        assert backend.find_ticket(ticket.id) == ticket
        assert backend.modify_ticket(admin, ticket.id, TicketChanges(uses_limit=4), now=clock()).uses_limit == 4
        backend.delete_ticket(admin, ticket.id)
        assert backend.find_ticket(ticket.id) is None

    def test_delete_is_final(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        backend.delete_ticket(alice, ticket.id)
        assert backend.find_ticket(ticket.id) is None
        assert backend.find_ticket_by_string(ticket.string) is None
        for call in (lambda: backend.get_ticket(alice, ticket.id), lambda: backend.delete_ticket(alice, ticket.id),
                     lambda: backend.open_session(ticket, "alice", client_host=None, now=clock())):
            with pytest.raises(errors.TicketNotFound):
                call()

    def test_list_shows_own_tickets_and_admins_see_all(self, backend, clock, alice, bob, admin, ds1, make_path):
        mine = [self.create(backend, clock, alice, ds1).id for _ in range(3)]
        bobs = self.create(backend, clock, bob, make_path("bob", "stuff")).id
        assert self.all_ids(backend, alice) == mine
        assert self.all_ids(backend, bob) == [bobs]
        assert self.all_ids(backend, admin, owner="alice") == mine
        everyone = self.all_ids(backend, admin, all_owners=True)
        assert set(mine + [bobs]) <= set(everyone) and everyone == sorted(everyone)
        for query in (TicketQuery(owner="alice"), TicketQuery(all_owners=True), TicketQuery(shared_with="alice")):
            with pytest.raises(errors.PermissionDenied):
                backend.list_tickets(bob, query)

    def test_list_shared_with(self, backend, clock, alice, bob, carol, ds1):
        for_bob = self.create(backend, clock, alice, ds1, users=["bob"]).id
        for_lab = self.create(backend, clock, alice, ds1, groups=["lab"]).id
        for_carol = self.create(backend, clock, alice, ds1, users=["carol"]).id
        public = self.create(backend, clock, alice, ds1, anonymous=True).id
        own = self.create(backend, clock, alice, ds1).id  # alice's own, restricted to alice
        # A real zone may hold other owners' tickets shared with these users: judge only this test's tickets.
        made = {for_bob, for_lab, for_carol, public, own}

        def shared(actor, name):
            return [i for i in self.all_ids(backend, actor, shared_with=name) if i in made]

        assert shared(bob, "bob") == [for_bob, for_lab]
        assert shared(carol, "carol") == [for_carol]
        # Own tickets are not "shared with" their owner, even though alice is in lab.
        assert shared(alice, "alice") == []

    def test_list_path_filter_is_on_segment_boundaries(self, backend, clock, alice, ds1, ds10, make_path):
        odd = make_path("alice", "d%_s", b"")  # LIKE wildcards must match only themselves
        in_ds1 = [self.create(backend, clock, alice, ds1).id,
                  self.create(backend, clock, alice, ds1 + "/data/measurements.csv").id]
        in_ds10 = self.create(backend, clock, alice, ds10).id
        in_odd = self.create(backend, clock, alice, odd).id
        assert self.all_ids(backend, alice, path=ds1) == in_ds1
        assert self.all_ids(backend, alice, path=ds1 + "/") == in_ds1
        assert self.all_ids(backend, alice, path=ds1 + "/data") == in_ds1[1:]
        assert self.all_ids(backend, alice, path=ds10) == [in_ds10]
        assert self.all_ids(backend, alice, path=ds1[:-1]) == []  # ".../ds" is no prefix of ".../ds1"
        assert self.all_ids(backend, alice, path=odd) == [in_odd]
        assert self.all_ids(backend, alice, path=odd.replace("%_", "xy")) == []
        with pytest.raises(errors.InvalidPath):
            backend.list_tickets(alice, TicketQuery(path="relative/path"))

    def test_list_anonymous_and_status_filters(self, backend, clock, alice, bob, ds1):
        public = self.create(backend, clock, alice, ds1, anonymous=True, expires_in=100).id
        short = self.create(backend, clock, alice, ds1, users=["bob"], expires_in=50).id
        once = self.create(backend, clock, alice, ds1, users=["bob"], uses_limit=1)
        backend.open_session(once, "bob", client_host=None, now=clock()).close()
        forever = self.create(backend, clock, alice, ds1).id
        assert self.all_ids(backend, alice, anonymous=True) == [public]
        assert self.all_ids(backend, alice, anonymous=False) == [short, once.id, forever]
        now = clock()
        assert self.all_ids(backend, alice, status=TicketStatus.ACTIVE, now=now) == [public, short, forever]
        assert self.all_ids(backend, alice, status=TicketStatus.EXHAUSTED, now=now) == [once.id]
        assert self.all_ids(backend, alice, status=TicketStatus.EXPIRED, now=now) == []
        later = now + timedelta(seconds=60)
        assert self.all_ids(backend, alice, status=TicketStatus.EXPIRED, now=later) == [short]
        assert self.all_ids(backend, alice, status=TicketStatus.ACTIVE, now=later) == [public, forever]
        assert self.all_ids(backend, alice, status=TicketStatus.EXPIRED, now=later, anonymous=False) == [short]

    def test_pagination_is_stable_while_tickets_are_created(self, backend, clock, alice, ds1):
        first = [self.create(backend, clock, alice, ds1).id for _ in range(5)]
        page1 = backend.list_tickets(alice, TicketQuery(limit=2))
        assert self.ids(page1) == first[:2] and page1.next_cursor
        newer = self.create(backend, clock, alice, ds1).id
        backend.delete_ticket(alice, first[0])  # already seen: must not shift the next page
        page2 = backend.list_tickets(alice, TicketQuery(limit=2, cursor=page1.next_cursor))
        assert self.ids(page2) == first[2:4]
        page3 = backend.list_tickets(alice, TicketQuery(limit=2, cursor=page2.next_cursor))
        assert self.ids(page3) == [first[4], newer] and page3.next_cursor is None

    def test_last_page_has_no_cursor(self, backend, clock, alice, ds1):
        ids = [self.create(backend, clock, alice, ds1).id for _ in range(4)]
        page = backend.list_tickets(alice, TicketQuery(limit=4))
        assert self.ids(page) == ids and page.next_cursor is None
        page = backend.list_tickets(alice, TicketQuery(limit=3))
        assert page.next_cursor is not None
        assert self.ids(backend.list_tickets(alice, TicketQuery(limit=3, cursor=page.next_cursor))) == ids[3:]

    @pytest.mark.parametrize("cursor", ["", "!!!", "not a cursor", "MTIz=", "LTE", "YWJj", "A" * 200, "MDE", "\x00"])
    def test_invalid_cursor(self, backend, alice, cursor):
        with pytest.raises(errors.InvalidCursor) as caught:
            backend.list_tickets(alice, TicketQuery(cursor=cursor))
        assert caught.value.code == "invalid_cursor" and isinstance(caught.value, errors.InvalidRequest)

    @pytest.mark.parametrize("limit", [0, -1, 10**6])
    def test_invalid_limit(self, backend, alice, limit):
        with pytest.raises(errors.InvalidRequest):
            backend.list_tickets(alice, TicketQuery(limit=limit))

    def test_user_groups_and_readiness(self, backend):
        assert "lab" in backend.user_groups("alice") and "lab" in backend.user_groups("bob")
        assert "lab" not in backend.user_groups("carol")
        assert backend.user_groups("nobody-at-all") == frozenset()
        backend.check_ready()


class TicketUsageTests(_Helpers):
    """``open_session``: one call is one use; limits, expiry and allow-lists decide who may use a ticket."""

    def open(self, backend, clock, ticket, holder, host=None):
        session = backend.open_session(ticket, holder, client_host=host, now=clock())
        session.close()
        return session

    def test_uses_limit_counts_sessions_and_never_overshoots(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=3)
        for expected in (1, 2, 3):
            assert self.open(backend, clock, ticket, "alice").ticket.uses_count == expected
        for _ in range(2):
            with pytest.raises(errors.TicketExhausted):
                self.open(backend, clock, ticket, "alice")
        assert backend.find_ticket(ticket.id).uses_count == 3  # refused attempts are not counted

    def test_concurrent_sessions_never_exceed_the_uses_limit(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=3)
        start = threading.Barrier(6)

        def attempt() -> bool:
            start.wait()
            try:
                self.open(backend, clock, ticket, "alice").close()
                return True
            except errors.TicketExhausted:
                return False

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            won = [f.result() for f in [pool.submit(attempt) for _ in range(6)]]
        assert won.count(True) == 3 and backend.find_ticket(ticket.id).uses_count == 3

    def test_no_uses_limit_means_unlimited_and_api_calls_do_not_count(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        for _ in range(5):
            self.open(backend, clock, ticket, "alice")
        backend.get_ticket(alice, ticket.id)
        backend.list_tickets(alice, TicketQuery())
        backend.find_ticket_by_string(ticket.string)
        assert backend.find_ticket(ticket.id).uses_count == 5

    def test_raising_the_limit_revives_an_exhausted_ticket(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=1)
        self.open(backend, clock, ticket, "alice")
        with pytest.raises(errors.TicketExhausted):
            self.open(backend, clock, ticket, "alice")
        backend.modify_ticket(alice, ticket.id, TicketChanges(uses_limit=2), now=clock())
        assert self.open(backend, clock, ticket, "alice").ticket.uses_count == 2

    def test_expiry(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, expires_in=60)
        self.open(backend, clock, ticket, "alice")
        clock.advance(59)
        self.open(backend, clock, ticket, "alice")
        clock.advance(1)
        with pytest.raises(errors.TicketExpired):
            self.open(backend, clock, ticket, "alice")
        assert backend.find_ticket(ticket.id).uses_count == 2

    def test_user_allow_list(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob"])
        self.open(backend, clock, ticket, "bob")
        for intruder in ("alice", "carol", policy.ANONYMOUS_USER):
            with pytest.raises(errors.TicketUserExcluded):
                self.open(backend, clock, ticket, intruder)

    def test_group_allow_list(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, groups=["lab"])
        self.open(backend, clock, ticket, "alice")
        self.open(backend, clock, ticket, "bob")
        with pytest.raises(errors.TicketGroupExcluded):
            self.open(backend, clock, ticket, "carol")

    def test_host_allow_list(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, hosts=["192.0.2.7"])
        self.open(backend, clock, ticket, "alice", "192.0.2.7")
        for host in ("192.0.2.8", "198.51.100.1", None, "not-an-ip"):
            with pytest.raises(errors.TicketHostExcluded):
                self.open(backend, clock, ticket, "alice", host)

    def test_host_allow_list_networks(self, backend, clock, alice, ds1):
        if not self.supports_host_networks:
            self.assert_refused(backend, clock, alice, ds1, "hosts", hosts=["192.0.2.0/24"])
            return
        ticket = self.create(backend, clock, alice, ds1, hosts=["192.0.2.0/24"])
        self.open(backend, clock, ticket, "alice", "192.0.2.200")
        with pytest.raises(errors.TicketHostExcluded):
            self.open(backend, clock, ticket, "alice", "192.0.3.1")

    def test_host_allow_list_ipv6(self, backend, clock, alice, ds1):
        if not self.supports_ipv6_hosts:
            self.assert_refused(backend, clock, alice, ds1, "hosts", hosts=["2001:db8::1"])
            return
        ticket = self.create(backend, clock, alice, ds1, hosts=["2001:db8::1"])
        self.open(backend, clock, ticket, "alice", "2001:db8::1")
        with pytest.raises(errors.TicketHostExcluded):
            self.open(backend, clock, ticket, "alice", "2001:db8::2")

    def test_anonymous_ticket_is_usable_without_identity(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, anonymous=True, uses_limit=2)
        assert self.open(backend, clock, ticket, policy.ANONYMOUS_USER).holder == policy.ANONYMOUS_USER
        self.open(backend, clock, ticket, "carol")
        with pytest.raises(errors.TicketExhausted):
            self.open(backend, clock, ticket, policy.ANONYMOUS_USER)

    def test_session_sees_the_current_ticket(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob"])
        backend.modify_ticket(alice, ticket.id, TicketChanges(users=("carol",)), now=clock())
        with pytest.raises(errors.TicketUserExcluded):
            self.open(backend, clock, ticket, "bob")  # the stale object still lists bob
        assert self.open(backend, clock, ticket, "carol").ticket.users == ("carol",)


class UseWindowTests(_Helpers):
    """The use window (``s3.use_window``): a key pair's requests that follow each other within the window are
    one use, decided atomically with the count, so a limit is never overshot by threads, workers or instances.
    Needs the fixture ``second_backend``: another instance on the same catalogue."""

    def use(self, backend, ticket, clock, holder="alice", window=60.0):
        backend.open_session(ticket, holder, client_host=None, now=clock(), window=window).close()

    def test_requests_within_the_window_are_one_use(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=3)
        for gap in (0, 30, 59, 60):  # each gap measured from the previous request: a sliding window
            clock.advance(gap)
            self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 1
        clock.advance(61)
        self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 2

    def test_zero_window_counts_every_request(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        for _ in range(3):
            self.use(backend, ticket, clock, window=0)
        assert backend.find_ticket(ticket.id).uses_count == 3

    def test_a_used_up_limit_lets_the_current_use_finish_and_nothing_more(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=1)
        self.use(backend, ticket, clock)
        clock.advance(50)
        self.use(backend, ticket, clock)  # the same use, although the limit is reached
        clock.advance(61)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock)
        # The refusal did not move the window: a request right after it is refused as well.
        clock.advance(1)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 1

    def test_each_holder_has_its_own_window(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob", "carol"], uses_limit=2)
        self.use(backend, ticket, clock, "bob")
        self.use(backend, ticket, clock, "carol")
        self.use(backend, ticket, clock, "bob")
        assert backend.find_ticket(ticket.id).uses_count == 2
        clock.advance(120)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock, "bob")

    def test_expiry_and_allow_lists_still_refuse_a_continuing_use(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob"], expires_in=30)
        self.use(backend, ticket, clock, "bob")
        with pytest.raises(errors.TicketUserExcluded):
            self.use(backend, ticket, clock, "carol")
        clock.advance(30)
        with pytest.raises(errors.TicketExpired):
            self.use(backend, ticket, clock, "bob")

    def test_a_revoked_ticket_is_refused_within_the_window(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        self.use(backend, ticket, clock)
        backend.delete_ticket(alice, ticket.id)
        with pytest.raises(errors.TicketNotFound):
            self.use(backend, ticket, clock)

    def test_threads_never_overshoot_and_one_holder_counts_once(self, backend, clock, alice, ds1):
        holders = ["alice", "bob", "carol"]
        ticket = self.create(backend, clock, alice, ds1, users=holders, uses_limit=2)
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def worker(holder: str) -> None:
            start.wait()
            try:
                self.use(backend, ticket, clock, holder)
                result = holder
            except errors.TicketExhausted:
                result = "refused"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=worker, args=(holders[n % 3],)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        admitted = {o for o in outcomes if o != "refused"}
        # Exactly two holders got in (each with all 4 of its requests); the third was refused every time.
        assert len(admitted) == 2 and outcomes.count("refused") == 4
        assert backend.find_ticket(ticket.id).uses_count == 2

    def test_instances_sharing_the_catalogue_share_the_window(self, backend, second_backend, clock, alice, ds1):
        # One client's requests spread over two gateway instances (a load balancer) are still one use.
        ticket = self.create(backend, clock, alice, ds1, uses_limit=2)
        self.use(backend, ticket, clock)
        for previous, instance in ((backend, second_backend), (second_backend, backend)) * 2:
            self.settle(previous)
            clock.advance(40)
            self.use(instance, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 1
        clock.advance(61)
        self.use(second_backend, ticket, clock)
        clock.advance(61)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock)
        assert second_backend.find_ticket(ticket.id).uses_count == 2

class DataSessionTests(_Helpers):
    """Reading and writing data through a ticket."""

    def session(self, backend, clock, ticket, holder="alice"):
        return backend.open_session(ticket, holder, client_host=None, now=clock())

    def put(self, session, path, data: bytes):
        return session.write(path, io.BytesIO(data), size=len(data))

    def test_read_ticket_reads(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, ticket) as s:
            info = s.stat(ds1 + "/README.txt")
            assert (info.is_collection, info.size, info.etag) == (False, 6, hashlib.md5(b"readme").hexdigest())
            assert s.stat(ds1).is_collection and s.stat(ds1 + "/data").is_collection
            with s.open_read(ds1 + "/data/measurements.csv") as stream:
                assert stream.read() == b"t,v\n1,2\n"
                stream.seek(2)
                assert stream.read(1) == b"v"
            with pytest.raises(errors.PermissionDenied):
                self.put(s, ds1 + "/new.txt", b"x")
            with pytest.raises(errors.PermissionDenied):
                s.delete(ds1 + "/README.txt")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/missing")
            with pytest.raises(errors.PathNotFound):
                s.open_read(ds1 + "/data")

    def test_collection_ticket_covers_below_not_beside(self, backend, clock, alice, ds1, ds10, make_path):
        make_path("alice", "hello.txt", b"hello")
        ticket = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, ticket) as s:
            assert s.stat(ds1 + "/data/measurements.csv").size == 8
            for outside in (ds10 + "/notes.txt", ds10, ds1.rsplit("/", 1)[0] + "/hello.txt",
                            ds1.rsplit("/", 1)[0]):
                with pytest.raises(errors.PermissionDenied):
                    s.stat(outside)
            with pytest.raises(errors.InvalidPath):
                s.stat(ds1 + "/../ds10/notes.txt")
            with pytest.raises(errors.InvalidPath):
                s.open_read(ds1 + "//README.txt")

    def test_data_object_ticket_covers_only_its_object(self, backend, clock, alice, ds1):
        target = ds1 + "/README.txt"
        ticket = self.create(backend, clock, alice, target, access="write")
        with self.session(backend, clock, ticket) as s:
            assert s.stat(target).size == 6
            with pytest.raises(errors.PermissionDenied):
                s.stat(ds1 + "/data/measurements.csv")
            with pytest.raises(errors.PermissionDenied):
                self.put(s, ds1 + "/other.txt", b"x")
            assert self.put(s, target, b"new readme").size == 10

    def test_listing_is_in_s3_key_order(self, backend, clock, alice, make_path):
        for name in ("a0", "a/x", "a.txt", "b", "a/y/z", "\u00e9", "Z"):
            make_path("alice", "order/" + name, name.encode())
        root = make_path("alice", "order")
        ticket = self.create(backend, clock, alice, root)
        with self.session(backend, clock, ticket) as s:
            flat = [(i.path[len(root) + 1:], i.is_collection) for i in s.list(root, recursive=False)]
            assert flat == [("Z", False), ("a.txt", False), ("a", True), ("a0", False), ("b", False),
                            ("\u00e9", False)]
            deep = [i.path[len(root) + 1:] for i in s.list(root, recursive=True)]
            assert deep == ["Z", "a.txt", "a/x", "a/y/z", "a0", "b", "\u00e9"]
            assert deep == sorted(deep, key=lambda p: p.encode("utf-8"))
            after = [i.path[len(root) + 1:] for i in s.list(root, recursive=True, start_after=root + "/a/x")]
            assert after == ["a/y/z", "a0", "b", "\u00e9"]
            # A collection's own key ends with "/": after it come its contents (recursive) or the next name.
            after = [i.path[len(root) + 1:] for i in s.list(root, recursive=False, start_after=root + "/a")]
            assert after == ["a0", "b", "\u00e9"]
            after = [i.path[len(root) + 1:] for i in s.list(root, recursive=True, start_after=root + "/a")]
            assert after == ["a/x", "a/y/z", "a0", "b", "\u00e9"]
            after = [i.path[len(root) + 1:] for i in s.list(root, recursive=False, start_after=root + "/a.txt")]
            assert after == ["a", "a0", "b", "\u00e9"]
            sub = [i.path for i in s.list(root + "/a", recursive=False)]
            assert sub == [root + "/a/x", root + "/a/y"]
            with pytest.raises(errors.PathNotFound):
                list(s.list(root + "/b", recursive=False))
            with pytest.raises(errors.PathNotFound):
                list(s.list(root + "/nothing", recursive=True))

    def test_listing_reports_sizes_and_etags(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, ticket) as s:
            infos = {i.path: i for i in s.list(ds1, recursive=True)}
        assert infos[ds1 + "/README.txt"].etag == hashlib.md5(b"readme").hexdigest()
        assert infos[ds1 + "/data/measurements.csv"].size == 8
        assert all(not i.is_collection for i in infos.values())

    def test_an_object_without_a_known_md5_has_a_stable_provisional_etag(self, backend, clock, alice, ds1,
                                                                          place_by_hand):
        # Clients compare the ETag between the requests of one read (s3fs raises FileExpired, DuckDB fails): an
        # object whose MD5 the backend does not know needs an ETag that holds still while it is unchanged, the
        # same in a stat and in every listing, made from its modify time and size (base.provisional_etag).
        path = place_by_hand("alice", "ds1/by-hand/table.csv", b"a,b\n1,2\n")
        reader = self.create(backend, clock, alice, ds1)
        writer = self.create(backend, clock, alice, ds1, access="write")

        def etag(s) -> str:
            seen = {s.stat(path).etag, s.stat(path).etag}
            for recursive, where in ((True, ds1), (False, ds1 + "/by-hand")):
                seen.add({i.path: i.etag for i in s.list(where, recursive=recursive)}[path])
            assert len(seen) == 1, seen
            return seen.pop()

        with self.session(backend, clock, reader) as s:
            first = etag(s)
            with s.open_read(path) as stream:
                assert stream.read() == b"a,b\n1,2\n"
            assert etag(s) == first  # a read changes nothing
        assert re.fullmatch(r"[0-9a-f]+-8", first), first  # "<modify time hex>-<size hex>": no MD5
        with self.session(backend, clock, writer) as s:
            assert etag(s) == first  # another ticket, another session: the same ETag
        place_by_hand("alice", "ds1/by-hand/table.csv", b"a,b\n1,2\n3,4\n")
        with self.session(backend, clock, reader) as s:
            second = etag(s)
        assert second != first and re.fullmatch(r"[0-9a-f]+-c", second), second
        with self.session(backend, clock, writer) as s:
            self.put(s, path, b"a,b\n5,6\n")  # written through TicketBooth: now the MD5 is known
            assert etag(s) == hashlib.md5(b"a,b\n5,6\n").hexdigest()

    def test_write_creates_parents_and_counts(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            info = self.put(s, ds1 + "/new/deep/file.bin", b"0123456789")
            assert (info.size, info.etag) == (10, hashlib.md5(b"0123456789").hexdigest())
            assert s.stat(ds1 + "/new/deep").is_collection
            assert s.stat(ds1 + "/new/deep/file.bin").etag == info.etag
            info = s.write(ds1 + "/new/deep/file.bin", io.BytesIO(b"abc"))  # replace, size not declared
            with s.open_read(ds1 + "/new/deep/file.bin") as stream:
                assert stream.read() == b"abc"
        current = backend.find_ticket(ticket.id)
        assert (current.write_file_count, current.write_byte_count, current.uses_count) == (2, 13, 1)

    def test_write_file_limit(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write", write_file_limit=2)
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/one", b"1")
            self.put(s, ds1 + "/two", b"2")
            with pytest.raises(errors.TicketWriteFilesExceeded):
                self.put(s, ds1 + "/three", b"3")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/three")
        assert backend.find_ticket(ticket.id).write_file_count == 2

    def test_write_byte_limit(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write", write_byte_limit=10)
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/six", b"123456")
            with pytest.raises(errors.TicketWriteBytesExceeded):
                self.put(s, ds1 + "/five", b"12345")
            with pytest.raises(errors.TicketWriteBytesExceeded):
                s.write(ds1 + "/five", io.BytesIO(b"12345"))  # undeclared size: found while streaming
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/five")
            self.put(s, ds1 + "/four", b"1234")
        current = backend.find_ticket(ticket.id)
        assert (current.write_byte_count, current.write_file_count) == (10, 2)

    def test_concurrent_writes_never_exceed_the_byte_limit(self, backend, clock, alice, ds1):
        # Both writers are inside write() at once: each has passed any check made before its body arrives (the
        # hole found by the attack run: two 900-byte PUTs under a 1,000-byte limit both succeeded).
        ticket = self.create(backend, clock, alice, ds1, access="write", write_byte_limit=1000)
        inside = threading.Barrier(2, timeout=30)

        class Body(io.RawIOBase):
            def __init__(self):
                self.left = 900

            def readable(self):
                return True

            def readinto(self, buffer):
                if self.left == 900:
                    inside.wait()
                n = min(len(buffer), self.left)
                buffer[:n] = b"x" * n
                self.left -= n
                return n

        def put(name: str) -> bool:
            with self.session(backend, clock, ticket) as s:
                try:
                    s.write(ds1 + "/" + name, io.BufferedReader(Body()), size=900)
                    return True
                except errors.TicketWriteBytesExceeded:
                    return False

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            won = [f.result() for f in [pool.submit(put, name) for name in ("one", "two")]]
        assert won.count(True) == 1
        current = backend.find_ticket(ticket.id)
        assert (current.write_byte_count, current.write_file_count) == (900, 1)
        with self.session(backend, clock, ticket) as s:
            assert [i.path for i in s.list(ds1, recursive=False) if not i.is_collection] == sorted(
                [ds1 + "/README.txt", ds1 + "/" + ("one" if won[0] else "two")])

    def test_failing_stream_leaves_nothing_and_counts_nothing(self, backend, clock, alice, ds1):
        class Broken(io.RawIOBase):
            def __init__(self):
                self.calls = 0

            def readable(self):
                return True

            def read(self, n=-1):
                self.calls += 1
                if self.calls > 1:
                    raise ValueError("checksum mismatch at EOF")
                return b"partial data"

        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            with pytest.raises(ValueError, match="checksum mismatch"):
                s.write(ds1 + "/broken", Broken())
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/broken")
            self.put(s, ds1 + "/README.txt", b"kept")
            with pytest.raises(ValueError):
                s.write(ds1 + "/README.txt", Broken())
            with s.open_read(ds1 + "/README.txt") as stream:
                assert stream.read() == b"kept"  # a failed replace keeps the old content
        assert backend.find_ticket(ticket.id).write_file_count == 1

    def test_write_onto_a_collection_conflicts(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            with pytest.raises(errors.Conflict):
                self.put(s, ds1 + "/data", b"x")
            with pytest.raises(errors.Conflict):
                self.put(s, ds1 + "/README.txt/below", b"x")
        assert backend.find_ticket(ticket.id).write_file_count == 0

    def test_delete_keeps_collections(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            s.delete(ds1 + "/data/measurements.csv")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/data/measurements.csv")
            with pytest.raises(errors.PathNotFound):
                s.delete(ds1 + "/data/measurements.csv")
            with pytest.raises(errors.PathNotFound):
                s.delete(ds1 + "/data")  # a collection is not a data object
            assert s.stat(ds1 + "/data").is_collection  # made outside S3: kept although empty now
            assert list(s.list(ds1 + "/data", recursive=False)) == []
            # An empty collection is listed (recursively) as itself: S3's "folder" key "data/".
            assert [(i.path, i.is_collection) for i in s.list(ds1, recursive=True)] == [
                (ds1 + "/README.txt", False), (ds1 + "/data", True)]

    def test_write_through_user_ticket_by_group_member(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write", groups=["lab"])
        with self.session(backend, clock, ticket, holder="bob") as s:
            assert self.put(s, ds1 + "/from-bob.txt", b"hi").size == 2


META = ObjectMetadata(content_type="text/csv", cache_control="max-age=60", content_disposition="inline",
                      content_encoding="identity", content_language="de", expires="Thu, 01 Dec 2044 16:00:00 GMT",
                      user={"mtime": "1700000000.5", "owner-note": "caf\u00e9 \u2713"})


class ObjectMetadataTests(_Helpers):
    """S3 object metadata kept with the data, copies, and folder semantics through a ticket."""

    def session(self, backend, clock, ticket, holder="alice"):
        return backend.open_session(ticket, holder, client_host=None, now=clock())

    def put(self, session, path, data: bytes, metadata=None):
        return session.write(path, io.BytesIO(data), size=len(data), metadata=metadata)

    def test_metadata_is_kept_replaced_and_cleared(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/m.csv", b"a,b\n", META)
            assert s.stat(ds1 + "/m.csv").metadata == META
            other = ObjectMetadata(user={"k": "v"})
            self.put(s, ds1 + "/m.csv", b"a,b\n", other)
            assert s.stat(ds1 + "/m.csv").metadata == other
            self.put(s, ds1 + "/m.csv", b"x")
            assert s.stat(ds1 + "/m.csv").metadata == ObjectMetadata()
            assert s.stat(ds1 + "/README.txt").metadata == ObjectMetadata()  # written outside S3: none
        with self.session(backend, clock, self.create(backend, clock, alice, ds1)) as s:
            assert s.stat(ds1 + "/m.csv").metadata == ObjectMetadata()  # a reader sees the same

    def test_metadata_is_forgotten_with_its_object(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/gone.txt", b"1", META)
            s.delete(ds1 + "/gone.txt")
            self.put(s, ds1 + "/gone.txt", b"2")
            assert s.stat(ds1 + "/gone.txt").metadata == ObjectMetadata()

    def test_copy_keeps_or_replaces_metadata_and_counts_a_write(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/src.csv", b"0123456789", META)
            info = s.copy(ds1 + "/src.csv", ds1 + "/copy.csv")
            # The copy's MD5 (the iRODS zone checksums a copy in its source's scheme, an MD5 here).
            assert info.size == 10 and info.etag == hashlib.md5(b"0123456789").hexdigest()
            assert s.stat(ds1 + "/copy.csv").metadata == META
            with s.open_read(ds1 + "/copy.csv") as stream:
                assert stream.read() == b"0123456789"
            replaced = ObjectMetadata(content_type="text/plain", user={"mtime": "2"})
            s.copy(ds1 + "/src.csv", ds1 + "/src.csv", metadata=replaced)  # in place: rclone's mtime repair
            assert s.stat(ds1 + "/src.csv").metadata == replaced
            with s.open_read(ds1 + "/src.csv") as stream:
                assert stream.read() == b"0123456789"
            s.copy(ds1 + "/data/measurements.csv", ds1 + "/new/deep/m.csv")
            assert s.stat(ds1 + "/new/deep").is_collection
        current = backend.find_ticket(ticket.id)
        assert (current.write_file_count, current.write_byte_count) == (3, 10 + 10 + 8)  # in place: no write

    def test_a_kept_layout_is_the_etag_of_stat_and_listings_alike(self, backend, clock, alice, ds1):
        # A multipart upload's ETag ("<md5 of part MD5s>-N") is what the client got from Complete: HEAD, GET and
        # every listing must answer it too, or If-Match with it fails; until the content changes.
        content = b"0123456789" * 3
        layout = ObjectLayout(hashlib.md5(content).hexdigest(), len(content), "0" * 32 + "-2", parts=(20, 10))
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/sub/big.bin", content)
            self.put(s, ds1 + "/sub/plain.bin", b"plain")
            assert s.set_layout(ds1 + "/sub/big.bin", layout)
            assert s.stat(ds1 + "/sub/big.bin").etag == layout.etag
        with self.session(backend, clock, self.create(backend, clock, alice, ds1)) as s:  # a reader sees the same
            assert s.stat(ds1 + "/sub/big.bin").etag == layout.etag
            for recursive, where in ((True, ds1), (False, ds1 + "/sub")):
                etags = {i.path: i.etag for i in s.list(where, recursive=recursive)}
                assert etags[ds1 + "/sub/big.bin"] == layout.etag, recursive
                assert etags[ds1 + "/sub/plain.bin"] == hashlib.md5(b"plain").hexdigest()
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/sub/big.bin", b"other content")
            expected = hashlib.md5(b"other content").hexdigest()
            assert s.stat(ds1 + "/sub/big.bin").etag == expected
            assert {i.path: i.etag for i in s.list(ds1, recursive=True)}[ds1 + "/sub/big.bin"] == expected

    def test_a_copy_carries_no_multipart_layout_and_takes_a_single_part_one(self, backend, clock, alice, ds1):
        # The gateway makes a CopyObject single-part, as AWS does: the copy must not answer the source's "-N"
        # ETag, and a single-part layout must be keepable on it and on a source copied onto itself.
        content = b"0123456789" * 3
        md5 = hashlib.md5(content).hexdigest()
        multipart = ObjectLayout(md5, len(content), "0" * 32 + "-2", parts=(20, 10))
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/big.bin", content)
            assert s.set_layout(ds1 + "/big.bin", multipart)
            copied = s.copy(ds1 + "/big.bin", ds1 + "/copy.bin")
            assert copied.etag == md5 and s.stat(ds1 + "/copy.bin").etag == md5
            single = ObjectLayout(md5, len(content), md5, checksum_algorithm="CRC32", checksum="AAAAAA==",
                                  checksum_type="FULL_OBJECT")
            assert s.set_layout(ds1 + "/copy.bin", single) and s.stat(ds1 + "/copy.bin").layout == single
            s.copy(ds1 + "/big.bin", ds1 + "/big.bin", metadata=ObjectMetadata(user={"mtime": "1"}))
            assert s.set_layout(ds1 + "/big.bin", ObjectLayout(md5, len(content), md5))
            assert s.stat(ds1 + "/big.bin").etag == md5
            assert not s.set_layout(ds1 + "/big.bin", ObjectLayout("f" * 32, len(content), "f" * 32))  # not it

    def test_copy_refusals_leave_nothing(self, backend, clock, alice, ds1, ds10):
        ticket = self.create(backend, clock, alice, ds1, access="write", write_byte_limit=12)
        with self.session(backend, clock, ticket) as s:
            with pytest.raises(errors.PathNotFound):
                s.copy(ds1 + "/missing", ds1 + "/x")
            with pytest.raises(errors.PathNotFound):
                s.copy(ds1 + "/data", ds1 + "/x")
            with pytest.raises(errors.PermissionDenied):
                s.copy(ds10 + "/notes.txt", ds1 + "/x")
            with pytest.raises(errors.PermissionDenied):
                s.copy(ds1 + "/README.txt", ds10 + "/x")
            s.copy(ds1 + "/README.txt", ds1 + "/r1")  # 6 bytes
            s.copy(ds1 + "/README.txt", ds1 + "/r2")  # 12
            with pytest.raises(errors.TicketWriteBytesExceeded):
                s.copy(ds1 + "/README.txt", ds1 + "/r3")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/r3")
        reader = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, reader) as s:
            with pytest.raises(errors.PermissionDenied):
                s.copy(ds1 + "/README.txt", ds1 + "/r4")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/r4")

    def test_explicit_collections_are_kept_and_listed(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            assert s.make_collection(ds1 + "/folder/inner").is_collection
            s.make_collection(ds1 + "/folder/inner")  # again: fine
            listed = [(i.path, i.is_collection) for i in s.list(ds1, recursive=True)]
            assert (ds1 + "/folder/inner", True) in listed and (ds1 + "/folder", True) not in listed
            self.put(s, ds1 + "/folder/inner/f.txt", b"f")
            s.delete(ds1 + "/folder/inner/f.txt")
            assert s.stat(ds1 + "/folder/inner").is_collection  # explicit: kept, listed as a marker again
            with pytest.raises(errors.Conflict):
                s.make_collection(ds1 + "/README.txt")
            with pytest.raises(errors.Conflict):
                s.make_collection(ds1 + "/README.txt/below")
        assert backend.find_ticket(ticket.id).write_file_count == 1

    def test_removing_collections(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            s.make_collection(ds1 + "/a/b")
            with pytest.raises(errors.Conflict):
                s.remove_collection(ds1 + "/a")  # holds b
            with pytest.raises(errors.Conflict):
                s.remove_collection(ds1 + "/data")  # holds a data object
            with pytest.raises(errors.PathNotFound):
                s.remove_collection(ds1 + "/README.txt")
            with pytest.raises(errors.PathNotFound):
                s.remove_collection(ds1 + "/nothing")
            with pytest.raises(errors.PermissionDenied):
                s.remove_collection(ds1)
            s.remove_collection(ds1 + "/a/b")
            # "a" was created implicitly (as b's parent) and is empty now: gone too.
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/a")
            assert s.stat(ds1).is_collection
        reader = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, reader) as s:
            with pytest.raises(errors.PermissionDenied):
                s.make_collection(ds1 + "/r")
            with pytest.raises(errors.PermissionDenied):
                s.remove_collection(ds1 + "/data")

    def test_deleting_the_last_object_removes_implicit_collections_only(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/x/y/z/one.txt", b"1")
            self.put(s, ds1 + "/x/y/two.txt", b"2")
            self.put(s, ds1 + "/data/three.txt", b"3")
            s.delete(ds1 + "/x/y/z/one.txt")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/x/y/z")
            assert s.stat(ds1 + "/x/y").is_collection  # still holds two.txt
            s.delete(ds1 + "/x/y/two.txt")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/x")
            s.delete(ds1 + "/data/three.txt")
            assert s.stat(ds1 + "/data").is_collection  # not created by a write: kept
            assert [i.path for i in s.list(ds1, recursive=True)] == [
                ds1 + "/README.txt", ds1 + "/data/measurements.csv"]

    def test_a_ticket_never_removes_its_target_even_one_a_write_created(self, backend, clock, alice, ds1):
        # "sub" is implicit (an S3 write through the ds1 ticket made it); a ticket on "sub" itself must keep it.
        with self.session(backend, clock, self.create(backend, clock, alice, ds1, access="write")) as s:
            self.put(s, ds1 + "/sub/only.txt", b"1")
        inner = self.create(backend, clock, alice, ds1 + "/sub", access="write")
        with self.session(backend, clock, inner) as s:
            s.delete(ds1 + "/sub/only.txt")
            assert s.stat(ds1 + "/sub").is_collection
            self.put(s, ds1 + "/sub/deep/f.txt", b"2")
            s.delete(ds1 + "/sub/deep/f.txt")
            with pytest.raises(errors.PathNotFound):
                s.stat(ds1 + "/sub/deep")
            assert s.stat(ds1 + "/sub").is_collection and list(s.list(ds1 + "/sub", recursive=True)) == []

    def test_a_data_object_ticket_never_removes_its_parent(self, backend, clock, alice, ds1):
        target = ds1 + "/data/measurements.csv"
        ticket = self.create(backend, clock, alice, target, access="write")
        with self.session(backend, clock, ticket) as s:
            s.delete(target)
        admin_view = self.create(backend, clock, alice, ds1)
        with self.session(backend, clock, admin_view) as s:
            assert s.stat(ds1 + "/data").is_collection
