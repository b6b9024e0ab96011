"""ETags on the iRODS backend (test double): an ObjectLayout kept as the ``s3.layout`` AVU, applied only while the
data object's size and modify time are those it was written for; the provisional ETag of an object without an MD5
checksum, made from the catalogue row alone."""
from __future__ import annotations

import hashlib
import io
from datetime import timedelta

from ticketbooth.backends.base import ObjectLayout, provisional_etag
from ticketbooth.backends.irods import layouts

from . import test_irods_unit as unit
from .test_irods_unit import NOW, create

clock, zone, backend = unit.clock, unit.zone, unit.backend
PATH = "/tempZone/home/alice/ds1/big.bin"
LAYOUT = ObjectLayout(hashlib.md5(b"1234567").hexdigest(), 7, "abc-2", parts=(5, 2), checksum_algorithm="CRC32", checksum="AAAAAA==-2",
                      checksum_type="COMPOSITE", part_checksums=("AAAAAA==", "AAAAAB=="))


def test_a_kept_layout_gives_the_etag_and_parts_until_the_object_changes(backend, clock):
    ticket = create(backend, access="write")
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        s.write(PATH, io.BytesIO(b"1234567"))
        assert s.set_layout(PATH, LAYOUT)
        info = s.stat(PATH)
        assert info.layout == LAYOUT and info.etag == "abc-2"
        assert not s.set_layout(PATH, ObjectLayout(LAYOUT.md5, 8, "x"))  # another size: not this content
        assert not s.set_layout(PATH, ObjectLayout("0" * 32, 7, "x"))  # another MD5 than iRODS registered
        clock.now = NOW + timedelta(seconds=5)
        s.write(PATH, io.BytesIO(b"7654321"))  # same size, new modify time (and its s3.* AVUs rewritten)
        assert s.stat(PATH).layout is None and s.stat(PATH).etag != "abc-2"


def test_the_value_fits_an_avu_or_is_not_kept():
    assert layouts.decode(layouts.encode(LAYOUT, 100), 7, 100) == LAYOUT
    assert layouts.decode(layouts.encode(LAYOUT, 100), 7, 101) is None
    many = ObjectLayout("0" * 32, 7, "abc-900", parts=tuple(range(100, 1000)), part_checksums=("A" * 44,) * 900)
    assert layouts.encode(many, 1) is None
    some = ObjectLayout("0" * 32, 7, "abc-90", parts=(5 * 1024**2,) * 90, part_checksums=("A" * 44,) * 90)
    kept = layouts.decode(layouts.encode(some, 1), 7, 1)
    assert kept is not None and kept.parts == some.parts and kept.part_checksums == ()
    assert layouts.decode("not json", 7, 1) is None


def test_a_listing_reads_the_kept_etags_in_one_query_per_collection_not_per_key(backend, zone):
    ticket = create(backend, access="write")
    names = [f"/tempZone/home/alice/ds1/part{i}.bin" for i in range(6)]
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        for name in names:
            s.write(name, io.BytesIO(b"1234567"))
            assert s.set_layout(name, ObjectLayout(hashlib.md5(b"1234567").hexdigest(), 7, name[-5] + "-2",
                                                   parts=(5, 2)))
        before = len(zone.queries)
        listed = {i.path: i.etag for i in s.list("/tempZone/home/alice/ds1", recursive=False)}
        layout_queries = [q for q in zone.queries[before:]
                          if any(value == layouts.LAYOUT for _, _, value in q["criteria"])]
    assert all(listed[name] == name[-5] + "-2" for name in names)
    assert len(layout_queries) == 1


PLAIN = "/tempZone/home/alice/ds1/plain.bin"


def _provisional(at, size: int) -> str:
    return provisional_etag(size, int(at.timestamp()) * 10**9)


def test_an_object_without_an_md5_costs_no_query_and_no_write_for_its_etag(backend, zone, clock):
    zone.put(PLAIN, b"1234567", "alice", checksum=False)  # iput without -k
    summed = "/tempZone/home/alice/ds1/a.txt"  # registered with its MD5
    ticket = create(backend)
    before = len(zone.calls)

    def cost(stat):
        queries, calls = len(zone.queries), len(zone.calls)
        stat()
        return len(zone.queries) - queries, [c.command for c in zone.calls[calls:]]

    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        assert cost(lambda: s.stat(PLAIN)) == cost(lambda: s.stat(summed))
        assert s.stat(PLAIN).etag == _provisional(NOW, 7) == f"{int(NOW.timestamp()) * 10**9:x}-7"
        assert {i.path: i.etag for i in s.list("/tempZone/home/alice/ds1", recursive=False)}[PLAIN] == _provisional(
            NOW, 7)
        with s.open_read(PLAIN) as stream:
            assert stream.read() == b"1234567"
    # Nothing written to the object on a read path (the use counters live on TicketBooth's state collection).
    assert [c for c in zone.calls[before:] if c.command.startswith("avu:") and c.args[1] == PLAIN] == []
    assert zone.objects[PLAIN].checksum is None and zone.objects[PLAIN].avus == {}


def test_the_provisional_etag_follows_the_catalogue_until_an_md5_is_registered(backend, zone, clock):
    zone.put(PLAIN, b"1234567", "alice", checksum=False)
    ticket = create(backend, access="write")

    def etag():  # each a request of its own: a request keeps what it learnt about a path
        with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
            return s.stat(PLAIN).etag

    first = etag()
    clock.now = NOW + timedelta(seconds=0.5)  # the same second: iRODS keeps whole seconds
    zone.put(PLAIN, b"7654321", "alice", checksum=False)
    assert etag() == first
    clock.now = NOW + timedelta(seconds=1)
    zone.put(PLAIN, b"7654321", "alice", checksum=False)  # same size, one second on
    assert etag() == _provisional(NOW + timedelta(seconds=1), 7) != first
    zone.objects[PLAIN].checksum = "sha2:" + "A" * 43 + "="  # ichksum in the zone's default scheme: no MD5
    assert etag() == _provisional(NOW + timedelta(seconds=1), 7)
    zone.objects[PLAIN].checksum = hashlib.md5(b"7654321").hexdigest()  # ichksum -K with MD5
    assert etag() == hashlib.md5(b"7654321").hexdigest()


def test_a_layout_is_kept_on_an_object_whose_md5_irods_does_not_know(backend, zone):
    # A CopyObject of such an object with a checksum algorithm: the zone checksums the copy with SHA-256, the
    # gateway reads the copy back and keeps its MD5 and checksum as the layout, which is the ETag from then on.
    zone.put(PLAIN, b"1234567", "alice", checksum=False)
    zone.objects[PLAIN].checksum = "sha2:" + "A" * 43 + "="
    md5 = hashlib.md5(b"1234567").hexdigest()
    single = ObjectLayout(md5, 7, md5, checksum_algorithm="CRC32", checksum="AAAAAA==", checksum_type="FULL_OBJECT")
    ticket = create(backend, access="write")
    with backend.open_session(ticket, "alice", client_host=None, now=NOW) as s:
        assert s.set_layout(PLAIN, single)
        assert s.stat(PLAIN).etag == md5 and s.stat(PLAIN).layout == single
        assert {i.path: i.etag for i in s.list("/tempZone/home/alice/ds1", recursive=True)}[PLAIN] == md5
