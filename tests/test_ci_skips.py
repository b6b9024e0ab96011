"""In CI (CI=true) a skipped test is a failure (project rule); checked with pytest's own pytester."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester):
    # The suite's own hooks, without the rest of its fixtures.
    pytester.makeconftest("from tests.ci_skips import pytest_make_collect_report, pytest_runtest_makereport\n")
    pytester.makepyfile(
        test_one="""
import pytest

def test_runs():
    assert True

def test_skips():
    pytest.skip("no zone here")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfails():
    assert False
""",
        test_module_skip="""
import pytest
pytest.skip("module needs a server", allow_module_level=True)
""",
    )
    return pytester


def test_skips_fail_under_ci(project, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, failed=1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*no zone here*"])


def test_skips_stay_skips_outside_ci(project, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=2, xfailed=1)
