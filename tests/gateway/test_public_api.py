"""The gateway's and the S3 core's public names are exported and importable from their packages."""
from __future__ import annotations

import importlib

import pytest

import ticketbooth.gateway as gateway
import ticketbooth.s3 as s3

MODULES = ["gateway.app", "gateway.conditions", "gateway.metadata", "gateway.linkpage", "gateway.listing", "gateway.multipart",
           "gateway.ranges", "gateway.s3xml", "gateway.server", "s3.access", "s3.clientaddr", "s3.errors",
           "s3.operations", "s3.routing"]


@pytest.mark.parametrize("package", [gateway, s3], ids=["gateway", "s3"])
def test_package_exports_resolve(package):
    for name in package.__all__:
        assert getattr(package, name) is not None, name


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_resolvable_all(module):
    mod = importlib.import_module(f"ticketbooth.{module}")
    assert mod.__all__
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []
