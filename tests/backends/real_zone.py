"""The real iRODS zone the ``irods``-marked backend tests run against: ``TICKETBOOTH_TEST_IRODS_HOST``, ``_PORT``,
``_ZONE``, ``_USER`` (a rodsadmin) and ``_PASSWORD`` (docs/irods.md)."""
from __future__ import annotations

import os

import pytest

__all__ = ["ENV", "skip_module_without_a_zone"]

ENV = {name: os.environ.get(f"TICKETBOOTH_TEST_IRODS_{name}", "") for name in ("HOST", "PORT", "ZONE", "USER",
                                                                                 "PASSWORD")}


def skip_module_without_a_zone() -> None:
    """Skip the calling test module when no zone is configured (under ``CI=true`` a skip fails the run)."""
    if not all(ENV.values()):
        pytest.skip("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD to run against a real iRODS zone",
                    allow_module_level=True)
