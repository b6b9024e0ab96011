"""The shared conformance suite against a real iRODS zone (skipped unless TICKETBOOTH_TEST_IRODS_* are set).

Needs TICKETBOOTH_TEST_IRODS_HOST, _PORT, _ZONE, _USER (a rodsadmin) and _PASSWORD; optionally
TICKETBOOTH_TEST_IRODS_SERVICE_HOSTS (comma-separated IPv4 addresses iRODS sees this machine connect from;
default 127.0.0.1). See docs/irods.md. Every test starts with no tickets owned by the test users.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime

import pytest

from ticketbooth import paths
from ticketbooth.model import Actor
from ticketbooth.settings import IrodsSettings, Settings

from .conformance import (
    DataSessionTests,
    FakeClock,
    ObjectMetadataTests,
    TicketCatalogueTests,
    TicketUsageTests,
    UseWindowTests,
    _Helpers,
)
from .irods_fixtures import IrodsCapabilities
from .real_zone import ENV, skip_module_without_a_zone

_ENV = ENV
skip_module_without_a_zone()

pytestmark = pytest.mark.irods
_SERVICE_HOSTS = [h.strip() for h in os.environ.get("TICKETBOOTH_TEST_IRODS_SERVICE_HOSTS", "127.0.0.1").split(",")
                  if h.strip()]
_USERS = ("alice", "bob", "carol")


def _delete_test_tickets(session) -> None:
    from irods.keywords import ADMIN_KW
    from irods.models import TicketQuery
    from irods.ticket import Ticket

    for row in session.query(TicketQuery.Ticket.string, TicketQuery.Owner.name).all():
        if row[TicketQuery.Owner.name] in _USERS:
            Ticket(session, row[TicketQuery.Ticket.string]).delete(**{ADMIN_KW: ""})


class RealIrodsFixtures(IrodsCapabilities):
    @pytest.fixture
    def clock(self):
        # iRODS stamps create/modify times with its own clock: start the test clock at the real time.
        return FakeClock(datetime.now(UTC).replace(microsecond=0))

    @pytest.fixture
    def admin_session(self):
        from irods.session import iRODSSession

        with iRODSSession(host=_ENV["HOST"], port=int(_ENV["PORT"]), user=_ENV["USER"], password=_ENV["PASSWORD"],
                          zone=_ENV["ZONE"]) as session:
            from irods.models import User

            for user in (*_USERS, "anonymous"):
                if not session.query(User.name).filter(User.name == user).all():
                    session.users.create(user, "rodsuser")
            if not session.query(User.name).filter(User.name == "lab").all():
                session.groups.create("lab")
            lab = session.groups.get("lab")
            for member in ("alice", "bob"):
                if not lab.hasmember(member):
                    lab.addmember(member)
            for other in ("carol",):
                if lab.hasmember(other):
                    lab.removemember(other)
            _delete_test_tickets(session)
            yield session
            _delete_test_tickets(session)

    @pytest.fixture
    def backend(self, admin_session, clock, run_root):
        from ticketbooth.backends.irods import IrodsBackend

        # A state collection (TicketBooth's counters and their locks) of this test's own, removed afterwards.
        state = f"/{_ENV['ZONE']}/home/{_ENV['USER']}/{run_root}-state"
        settings = Settings(backend="irods", irods=IrodsSettings(
            host=_ENV["HOST"], port=int(_ENV["PORT"]), zone=_ENV["ZONE"], user=_ENV["USER"],
            password=_ENV["PASSWORD"], state_collection=state))
        backend = IrodsBackend.from_settings(settings, clock=clock, service_hosts=_SERVICE_HOSTS)
        yield backend
        backend.close()
        if admin_session.collections.exists(state):
            admin_session.collections.remove(state, recurse=True, force=True)

    @pytest.fixture
    def second_backend(self, backend, clock, run_root):
        """Another instance on the same zone and state collection (as the ``backend`` fixture makes it)."""
        from ticketbooth.backends.irods import IrodsBackend

        settings = Settings(backend="irods", irods=IrodsSettings(
            host=_ENV["HOST"], port=int(_ENV["PORT"]), zone=_ENV["ZONE"], user=_ENV["USER"],
            password=_ENV["PASSWORD"], state_collection=f"/{_ENV['ZONE']}/home/{_ENV['USER']}/{run_root}-state"))
        other = IrodsBackend.from_settings(settings, clock=clock, service_hosts=_SERVICE_HOSTS)
        yield other
        other.close()

    @pytest.fixture
    def run_root(self):
        return f"tb-{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def make_actor(self):
        return lambda name, is_admin=False: Actor(name, is_admin)

    @pytest.fixture
    def make_path(self, admin_session, run_root):
        # Registered with its MD5, as TicketBooth writes objects (iRODS keeps no checksum unless asked; see
        # test_irods_observed.py).
        return lambda owner, relative, content=None: _put(run_root, owner, relative, content, md5=True)

    @pytest.fixture
    def place_by_hand(self, admin_session, run_root):
        # As iput without -k: no checksum, so the backend answers a provisional ETag.
        return lambda owner, relative, content: _put(run_root, owner, relative, content, md5=False)


def _put(run_root: str, owner: str, relative: str, content: bytes | None, *, md5: bool) -> str:
    """The collection ``relative`` (``content`` None) or the data object holding ``content`` in ``owner``'s home
    below ``run_root``, proxied as the owner (so the owner owns what the tests ticket); with ``md5`` the object's
    MD5 is registered as its checksum."""
    from irods.keywords import VERIFY_CHKSUM_KW
    from irods.session import iRODSSession

    path = paths.join(f"/{_ENV['ZONE']}/home/{owner}/{run_root}", relative)
    target = path if content is None else paths.parent(path)
    with iRODSSession(host=_ENV["HOST"], port=int(_ENV["PORT"]), user=_ENV["USER"], password=_ENV["PASSWORD"],
                      zone=_ENV["ZONE"], client_user=owner) as session:
        session.collections.create(target, recurse=True)
        if content is not None:
            options = {VERIFY_CHKSUM_KW: hashlib.md5(content).hexdigest()} if md5 else {}
            with session.data_objects.open(path, "w", **options) as handle:
                handle.write(content)
    return path


class TestRealIrodsCatalogue(TicketCatalogueTests, RealIrodsFixtures):
    pass


class TestRealIrodsUsage(TicketUsageTests, RealIrodsFixtures):
    pass


class TestRealIrodsObjectMetadata(ObjectMetadataTests, RealIrodsFixtures):
    pass


class TestRealIrodsData(DataSessionTests, RealIrodsFixtures):
    pass


class TestRealIrodsUseWindow(UseWindowTests, RealIrodsFixtures):
    pass


class TestRealIrodsAcrossInstances(_Helpers, RealIrodsFixtures):
    """Several TicketBooth instances share one zone: their PATCHes of one ticket are serialised by the ticket's
    catalog lock, not only by each process's own lock (issue 9 item 6)."""

    @pytest.fixture
    def second(self, second_backend):
        return second_backend

    def test_racing_patches_from_two_instances_never_make_a_ticket_anonymous(self, backend, second, clock, alice,
                                                                            ds1):
        import threading

        from ticketbooth import errors

        for _ in range(12):  # the old per-process lock let this through in the first rounds of 1 run in 2
            ticket = self.create(backend, clock, alice, ds1, access="write", users=["bob"])
            to_groups = self.changes(ticket, clock, users=[], groups=["lab"])
            drop_groups = self.changes(ticket, clock, groups=[])
            done = threading.Event()

            def regroup(ticket_id=ticket.id, changes=to_groups, done=done):
                try:
                    backend.modify_ticket(alice, ticket_id, changes, now=clock())
                finally:
                    done.set()

            writer = threading.Thread(target=regroup)
            writer.start()
            # The second instance keeps dropping the groups while the first moves the ticket from users to
            # groups: judged against a half-applied state, that merge would leave no users and no groups.
            while not done.is_set():
                try:
                    second.modify_ticket(alice, ticket.id, drop_groups, now=clock())
                except errors.InvalidRequest:
                    pass
            writer.join()
            after = backend.find_ticket(ticket.id)
            assert not after.anonymous and (after.users, after.groups) in {(("bob",), ()), ((), ("lab",))}
