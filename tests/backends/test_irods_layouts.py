"""ObjectLayout on the iRODS backend (test double): kept as the ``s3.layout`` AVU, applied only while the data
object's size and modify time are those it was written for."""
from __future__ import annotations

import hashlib
import io
from datetime import timedelta

from ticketbooth.backends.base import ObjectLayout
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
