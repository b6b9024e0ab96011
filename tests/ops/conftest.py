"""Operability tests (metrics, audit, logs) use the API fixtures of tests/conftest.py and the gateway's ``gw``."""
from __future__ import annotations

from ..gateway.conftest import gw  # noqa: F401 - a fixture shared with the gateway tests
