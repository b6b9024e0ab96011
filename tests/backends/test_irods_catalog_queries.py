"""How many catalogue round trips an S3 request costs on the iRODS backend, counted on a real zone.

The gateway runs in-process over an :class:`IrodsBackend` on the zone of ``TICKETBOOTH_TEST_IRODS_*`` with its
production defaults (``s3.key_cache_ttl`` 5 s, ``s3.use_window`` 10 s); requests are signed with botocore at the
real time; :func:`tests.backends.irods_tally.tally` counts every iRODS API request python-irodsclient sends. A
"warm" request follows one of the same key pair: its key is in the resolver's cache, its use window open (its
use already counted) and its ticket read in full a moment ago (``ticketmemo``). Bounds (GenQuery round trips):

| request | GenQueries |
| --- | --- |
| GET of a 4 KiB object, warm | 3: the ticket's row, the object's row, its ``s3.*`` AVUs |
| HEAD, warm | 3 |
| PUT of 4 KiB (a new key), warm | 5 (plus the counter lock, record and unlock, and the owner's session) |
| ListObjectsV2 with ``delimiter=/``, a small collection, warm | 4: the ticket's row, the objects, their kept layouts, the sub-collections |
| ListObjectsV2 without delimiter, warm | 4, and 2 more for each sub-collection walked |
| GET that counts a new use (``use_window`` 0) | 4 (the counter record read under its lock) |

The same module checks that the catalogue work saved never costs a revocation: a ticket deleted through the
backend or out of band, or an allow-list changed in iRODS, is refused at the next request.
"""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from ticketbooth.model import Access, Actor, TicketSpec
from ticketbooth.settings import IrodsSettings, S3Settings, Settings

from ..gateway.conftest import S3Client
from .irods_tally import tally
from .real_zone import ENV, skip_module_without_a_zone

_ENV = ENV
skip_module_without_a_zone()

pytestmark = pytest.mark.irods
OWNER, OTHER = "tbq_owner", "tbq_other"  # users of this module's own: the conformance suite deletes others' tickets
MASTER_KEY = "catalog-queries-master-key-" + "q" * 32
#: The memo reuses a full read only once the ticket's row is this many seconds old (ticketmemo.settle).
SETTLE = 2.1


def _session(**extra):
    from irods.session import iRODSSession

    return iRODSSession(host=_ENV["HOST"], port=int(_ENV["PORT"]), user=_ENV["USER"], password=_ENV["PASSWORD"],
                        zone=_ENV["ZONE"], **extra)


@pytest.fixture(scope="module")
def zone_root():
    from irods.models import User

    with _session() as admin:
        for user in (OWNER, OTHER):
            if not admin.query(User.name).filter(User.name == user).all():
                admin.users.create(user, "rodsuser")
    root = f"/{_ENV['ZONE']}/home/{OWNER}/tbq-{uuid.uuid4().hex[:8]}"
    with _session(client_user=OWNER, client_zone=_ENV["ZONE"]) as owner:
        owner.collections.create(root + "/sub")
        with owner.data_objects.open(root + "/obj.bin", "w") as handle:
            handle.write(b"x" * 4096)
        yield root
        owner.collections.remove(root, recurse=True, force=True)


def _gateway(state: str, *, use_window: float):
    from ticketbooth.backends.irods import IrodsBackend
    from ticketbooth.gateway.app import create_gateway_app

    settings = Settings(backend="irods", irods=IrodsSettings(
        host=_ENV["HOST"], port=int(_ENV["PORT"]), zone=_ENV["ZONE"], user=_ENV["USER"], password=_ENV["PASSWORD"],
        state_collection=state, service_hosts=["127.0.0.1"]),
        s3=S3Settings(master_key=MASTER_KEY, key_cache_ttl=5, use_window=use_window))
    clock = lambda: datetime.now(UTC)  # noqa: E731 - iRODS stamps with the real time; requests are signed at it
    backend = IrodsBackend.from_settings(settings, clock=clock)
    app = create_gateway_app(settings, backend=backend, clock=clock)
    return SimpleNamespace(settings=settings, clock=clock, app=app, backend=backend)


@pytest.fixture
def world(request, zone_root):
    """The gateway with the default use window (10 s), or the one a test names (``indirect`` parameter)."""
    state = f"/{_ENV['ZONE']}/home/{_ENV['USER']}/tbq-{uuid.uuid4().hex[:8]}-state"
    world = _gateway(state, use_window=getattr(request, "param", 10.0))
    world.root = zone_root
    world.tickets = []
    yield world
    for ticket_id in world.tickets:
        try:
            world.backend.delete_ticket(Actor(OWNER), ticket_id)
        except Exception:  # noqa: BLE001, S110 - deleted by the test itself
            pass
    world.backend.close()
    with _session() as admin:
        if admin.collections.exists(state):
            admin.collections.remove(state, recurse=True, force=True)


def _client(world, *, access=Access.WRITE, users=(OWNER,)) -> tuple[S3Client, int]:
    ticket = world.backend.create_ticket(Actor(OWNER), TicketSpec(path=world.root, access=access, users=users),
                                         now=world.clock())
    world.tickets.append(ticket.id)
    time.sleep(SETTLE)  # a ticket as requests usually meet it: not changed in the last seconds
    akid, secret = world.app.resolver.mint(ticket, OWNER)
    return S3Client(world, akid, secret, f"ticket-{ticket.id}"), ticket.id


def _warm(client: S3Client, method: str, key: str | None = None, query: str = "", body: bytes = b""):
    """The request twice: the second one, counted, finds everything warm."""
    first = client.request(method, key, query, body)
    assert first.status == 200, first.body[:300]
    with tally() as counted:
        result = client.request(method, key, query, body)
    assert result.status == 200, result.body[:300]
    print(f"{method} {key or ''}?{query}: {counted.queries} GenQueries, API calls {dict(sorted(counted.calls.items()))}"
          f", connects {counted.connects}")
    return result, counted


@pytest.mark.parametrize("world", [10.0, 0.0], ids=["window", "no-window"], indirect=True)
def test_warm_requests_stay_within_their_catalogue_bounds(world):
    client, _ = _client(world)
    window = world.settings.s3.use_window > 0
    got, counted = _warm(client, "GET", "obj.bin")
    assert got.body == b"x" * 4096
    assert counted.queries <= (3 if window else 4)
    if window:  # the request continues its pair's use: no counter record written, no lock taken
        assert counted.calls["MOD_AVU_METADATA_AN"] == 0 and counted.calls["COLL_CREATE_AN"] == 0
    _, counted = _warm(client, "HEAD", "obj.bin")
    assert counted.queries <= (3 if window else 4)
    _, counted = _warm(client, "PUT", f"put-{uuid.uuid4().hex[:6]}.bin", body=b"y" * 4096)
    assert counted.queries <= (5 if window else 6)
    listed, counted = _warm(client, "GET", None, "list-type=2&delimiter=%2F")
    assert "obj.bin" in listed.findall("Contents/Key") and listed.findall("CommonPrefixes/Prefix") == ["sub/"]
    assert counted.queries <= (4 if window else 5)
    listed, counted = _warm(client, "GET", None, "list-type=2")  # walks into "sub" (empty: its folder key)
    assert {"obj.bin", "sub/"} <= set(listed.findall("Contents/Key"))
    assert counted.queries <= (6 if window else 7)


def test_a_revoked_ticket_is_refused_at_once_though_everything_is_warm(world):
    client, ticket_id = _client(world)
    _warm(client, "GET", "obj.bin")
    world.backend.delete_ticket(Actor(OWNER), ticket_id)
    for method in ("GET", "HEAD"):
        refused = client.request(method, "obj.bin")
        assert refused.status == 403
    assert client.request("GET", "obj.bin").code == "InvalidAccessKeyId"


def test_a_ticket_deleted_out_of_band_is_refused_at_once(world):
    from irods.keywords import ADMIN_KW
    from irods.ticket import Ticket

    client, ticket_id = _client(world)
    _warm(client, "HEAD", "obj.bin")
    string = world.backend.find_ticket(ticket_id).string
    with _session() as admin:
        Ticket(admin, string).delete(**{ADMIN_KW: ""})
    assert client.request("GET", "obj.bin").code == "InvalidAccessKeyId"
    assert client.request("GET", None, "list-type=2").code == "InvalidAccessKeyId"


def test_an_allow_list_changed_in_irods_holds_at_the_next_request(world):
    from irods.ticket import Ticket

    client, ticket_id = _client(world, access=Access.READ)
    _warm(client, "HEAD", "obj.bin")
    string = world.backend.find_ticket(ticket_id).string
    # iticket mod: the holder off the list (another user on it, so the ticket does not become anonymous). A
    # HEAD is judged by TicketBooth alone (iRODS checks a ticket only when an object is opened).
    with _session(client_user=OWNER, client_zone=_ENV["ZONE"]) as owner:
        Ticket(owner, string).modify("add", "user", OTHER)
        Ticket(owner, string).modify("remove", "user", OWNER)
    refused = client.request("HEAD", "obj.bin")
    assert refused.status == 403
