"""The gateway's public names are exported and importable from the package."""
from __future__ import annotations

import importlib

import pytest

import ticketbooth.gateway as gateway

MODULES = ["app", "authz", "clientaddr", "conditions", "errors", "linkpage", "listing", "multipart", "ranges",
           "routing", "s3xml", "server"]


def test_package_exports_resolve():
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None, name


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_resolvable_all(module):
    mod = importlib.import_module(f"ticketbooth.gateway.{module}")
    assert mod.__all__
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []
