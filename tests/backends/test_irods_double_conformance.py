"""The shared conformance suite run against IrodsBackend on the iRODS test double.

This checks the backend and the double together. What iRODS itself cannot keep is declared once, as capabilities
of the fixtures (``IrodsCapabilities``), and the suite then checks that such requests are refused clearly.
"""
from __future__ import annotations

from ticketbooth.backends.base import ObjectMetadata

from .conformance import (
    DataSessionTests,
    ObjectMetadataTests,
    TicketCatalogueTests,
    TicketUsageTests,
    UseWindowTests,
)
from .irods_fixtures import IrodsDoubleFixtures


class TestIrodsDoubleCatalogue(TicketCatalogueTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleUsage(TicketUsageTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleUseWindow(UseWindowTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleData(DataSessionTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleObjectMetadata(ObjectMetadataTests, IrodsDoubleFixtures):
    """The shared suite, and: S3 metadata is iRODS metadata in the ``s3.`` namespace, both ways (see
    ticketbooth.backends.irods.s3meta)."""

    def test_metadata_is_avus_on_the_data_object(self, backend, clock, alice, ds1, zone):
        from .conformance import META

        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/m.csv", b"x", META)
        assert zone.avus(ds1 + "/m.csv") == {
            "s3.content-type": "text/csv", "s3.cache-control": "max-age=60", "s3.content-disposition": "inline",
            "s3.content-encoding": "identity", "s3.content-language": "de",
            "s3.expires": "Thu, 01 Dec 2044 16:00:00 GMT", "s3.meta.mtime": "1700000000.5",
            "s3.meta.owner-note": "caf\u00e9 \u2713"}

    def test_avus_set_in_irods_show_over_s3_and_others_are_left_alone(self, backend, clock, alice, ds1, zone):
        zone.objects[ds1 + "/README.txt"].avus.update({"s3.meta.Project": "lab", "s3.content-type": "text/x-r",
                                                       "experiment": "kept"})
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            seen = s.stat(ds1 + "/README.txt").metadata
            assert (seen.user, seen.content_type) == ({"project": "lab"}, "text/x-r")
            s.copy(ds1 + "/README.txt", ds1 + "/README.txt", metadata=ObjectMetadata(user={"a": "1"}))
        assert zone.avus(ds1 + "/README.txt") == {"experiment": "kept", "s3.meta.a": "1"}

    def test_implicit_collections_are_marked(self, backend, clock, alice, ds1, zone):
        ticket = self.create(backend, clock, alice, ds1, access="write")
        with self.session(backend, clock, ticket) as s:
            self.put(s, ds1 + "/new/deep/f", b"f")
            s.make_collection(ds1 + "/made")
        assert zone.avus(ds1 + "/new") == {"s3.implicit": "true"} == zone.avus(ds1 + "/new/deep")
        assert zone.avus(ds1 + "/made") == {}
