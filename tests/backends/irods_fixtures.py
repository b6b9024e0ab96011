"""Fixtures that build an IrodsBackend on the :mod:`tests.backends.irods_double` zone (conformance-suite shape)."""
from __future__ import annotations

import pytest

from ticketbooth import paths
from ticketbooth.backends.irods import IrodsBackend
from ticketbooth.model import Actor
from ticketbooth.settings import IrodsSettings, Settings

from .conformance import BackendCapabilities, FakeClock
from .irods_double import FakeZone

__all__ = ["IrodsCapabilities", "IrodsDoubleFixtures", "double_settings"]


def double_settings(zone: FakeZone, **irods: object) -> Settings:
    fields = {"host": "127.0.0.1", "port": 1247, "zone": zone.zone, "user": zone.admin, "password": zone.password,
              "connection_timeout": 1.0, **irods}
    return Settings(backend="irods", irods=IrodsSettings(**fields))  # type: ignore[arg-type]


class IrodsCapabilities(BackendCapabilities):
    """What iRODS cannot keep (see docs/irods.md): it resolves each allowed host to one IPv4 address and refuses
    allow-listing a user it does not know."""

    supports_host_networks = False
    supports_ipv6_hosts = False
    accepts_unknown_users = False


class IrodsDoubleFixtures(IrodsCapabilities):
    """The conformance-suite fixtures on a :class:`FakeZone`; TicketBooth connects from ``zone.gateway_address``."""

    @pytest.fixture
    def clock(self):
        return FakeClock()

    @pytest.fixture
    def zone(self, clock):
        zone = FakeZone(clock=clock)
        for user in ("alice", "bob", "carol"):
            zone.add_user(user)
        zone.add_group("lab", ["alice", "bob"])
        return zone

    @pytest.fixture
    def backend(self, zone, clock):
        backend = IrodsBackend.from_settings(double_settings(zone), session_factory=zone.session_factory, clock=clock,
                                             service_hosts=[zone.gateway_address])
        yield backend
        backend.close()

    @pytest.fixture
    def second_backend(self, backend, zone, clock):
        """Another TicketBooth instance on the same zone (and so the same counter records)."""
        other = IrodsBackend.from_settings(double_settings(zone), session_factory=zone.session_factory, clock=clock,
                                           service_hosts=[zone.gateway_address])
        yield other
        other.close()

    @pytest.fixture
    def make_actor(self, zone):
        def make(name: str, is_admin: bool = False) -> Actor:
            if name not in zone.users:
                zone.add_user(name, "rodsadmin" if is_admin else "rodsuser")
            return Actor(name, is_admin)

        return make

    @pytest.fixture
    def make_path(self, zone):
        def make(owner: str, relative: str, content: bytes | None = None) -> str:
            path = paths.join(f"/{zone.zone}/home/{owner}", relative)
            if content is None:
                zone.make_collection(path, owner)
            else:
                zone.put(path, content, owner)
            return path

        return make

    @pytest.fixture
    def place_by_hand(self, zone):
        def place(owner: str, relative: str, content: bytes) -> str:
            path = paths.join(f"/{zone.zone}/home/{owner}", relative)
            zone.put(path, content, owner, checksum=False)  # iput without -k: no checksum
            return path

        return place
