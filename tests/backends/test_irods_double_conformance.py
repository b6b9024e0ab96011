"""The shared conformance suite run against IrodsBackend on the iRODS test double.

This checks the backend and the double together. What iRODS itself cannot keep is declared once, as capabilities
of the fixtures (``IrodsCapabilities``), and the suite then checks that such requests are refused clearly.
"""
from __future__ import annotations

from .conformance import DataSessionTests, TicketCatalogueTests, TicketUsageTests
from .irods_fixtures import IrodsDoubleFixtures


class TestIrodsDoubleCatalogue(TicketCatalogueTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleUsage(TicketUsageTests, IrodsDoubleFixtures):
    pass


class TestIrodsDoubleData(DataSessionTests, IrodsDoubleFixtures):
    pass
