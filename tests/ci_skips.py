"""Project rule: in CI (``CI=true``) nothing may skip for a missing tool or server, so a skip is reported as a
failure. The hooks are imported by tests/conftest.py."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["pytest_make_collect_report", "pytest_runtest_makereport"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skip_fails(report: Any) -> None:
    """Turn a skip (not an expected failure) into a failure: in CI nothing may skip for a missing tool or server."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    if _in_ci():
        _skip_fails(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: Any) -> Iterator[None]:
    # A module-level pytest.skip() (e.g. no iRODS zone configured) skips at collection time.
    outcome = yield
    if _in_ci():
        _skip_fails(outcome.get_result())
