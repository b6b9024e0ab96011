"""docs/operations.md and config/prometheus/ stay true: the metrics table is METRICS, the scrape config and the
alert rules load in Prometheus's own promtool, and the alert unit tests pass."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ticketbooth.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
PROMETHEUS = ROOT / "config" / "prometheus"


def test_metrics_table_is_the_declared_table():
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(ticketbooth_[a-z_]+)` \| (\w+) \|([^|]*)\|", line)
        if match:
            labels = tuple(re.findall(r"`([a-z_]+)`", match.group(3)))
            rows[match.group(1)] = (match.group(2), labels)
    assert rows == {spec.name: (spec.kind, spec.labels) for spec in METRICS}


def test_alert_rules_name_only_declared_metrics():
    names = {spec.name for spec in METRICS}
    series = set()
    for spec in METRICS:
        series |= {spec.name} if spec.kind == "counter" else {spec.name + s for s in ("_bucket", "_sum", "_count")}
    used = set(re.findall(r"\b(ticketbooth_[a-z_]+)", (PROMETHEUS / "ticketbooth-rules.yml").read_text()))
    assert used and used <= series, used - series
    assert names & {u.removesuffix("_bucket") for u in used}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs promtool (.ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return path


def test_scrape_config_and_rules_load_in_promtool(tmp_path):
    promtool = _promtool()
    token = tmp_path / "ticketbooth-metrics.token"
    token.write_text("scrape-token-0123456789")
    config = (PROMETHEUS / "prometheus.yml").read_text().replace("/etc/prometheus/ticketbooth-metrics.token",
                                                                 str(token))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(PROMETHEUS / "ticketbooth-rules.yml", tmp_path)
    checked = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_alert_unit_tests_pass():
    promtool = _promtool()
    result = subprocess.run([promtool, "test", "rules", "ticketbooth-rules.test.yml"], cwd=PROMETHEUS,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
