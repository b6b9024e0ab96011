"""Metrics of real multi-worker gunicorn runs: every scrape, whichever worker answers it, shows every worker's
requests, including those of workers that have exited (``--max-requests`` recycles them during the test)."""
from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .servers import API_APP, GATEWAY_APP, Server, free_port

REQUESTS = 24
MAX_REQUESTS = 5  # each worker exits after this many requests, so REQUESTS are served by several processes


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def _config(tmp_path: Path, **metrics: object) -> Path:
    config = tmp_path / "ticketbooth.toml"
    lines = [f'data_dir = "{tmp_path / "data"}"', 'log_level = "WARNING"',
             f'[auth]\nhs256_secret = "{secrets.token_hex(24)}"',
             f'[s3]\nmaster_key = "{secrets.token_hex(32)}"', "[metrics]"]
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in metrics.items()]
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.parametrize("app, path, name, labels", [
    (API_APP, "/healthz", "ticketbooth_http_requests_total",
     {"service": "api", "route": "/healthz", "method": "GET", "status": "200"}),
    (GATEWAY_APP, "/ticket-1/a.txt", "ticketbooth_decisions_total",
     {"source": "s3", "outcome": "denied", "code": "AccessDenied", "reason": ""}),
], ids=["api", "gateway"])
def test_scrapes_sum_all_workers(tmp_path, app, path, name, labels):
    shared = tmp_path / "multiproc"
    config = _config(tmp_path, multiproc_dir=str(shared))
    port = free_port()
    server = Server(app, port, {"TICKETBOOTH_CONFIG": str(config)}, tmp_path / "server.log", workers=2, threads=2,
                    args=["-c", "python:ticketbooth.gunicorn_conf", "--max-requests", str(MAX_REQUESTS)])
    try:
        server.wait_ready("/metrics")
        start = _value(requests.get(server.url + "/metrics", timeout=10).text, name, **labels)
        statuses = {requests.get(server.url + path, timeout=10).status_code for _ in range(REQUESTS)}
        # A request is counted just after its response is sent: wait for the last one, on a busy machine.
        deadline = time.monotonic() + 10
        while _value(requests.get(server.url + "/metrics", timeout=10).text, name, **labels) - start < REQUESTS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        scrapes = [requests.get(server.url + "/metrics", timeout=10) for _ in range(4)]
    finally:
        server.stop()
    assert statuses == {200 if app == API_APP else 403}
    for scrape in scrapes:  # whichever worker answers, it shows every worker's requests, and no more
        assert scrape.status_code == 200
        assert _value(scrape.text, name, **labels) - start == REQUESTS
    workers = {path.stem.rpartition("_")[2] for path in shared.glob("counter_*.db")}
    assert len(workers) >= REQUESTS // MAX_REQUESTS  # the counts above came from that many processes


def test_metrics_port_and_token_under_gunicorn(tmp_path):
    metrics_port = free_port()
    token = secrets.token_hex(16)
    config = _config(tmp_path, port=metrics_port, bearer_token=token)
    port = free_port()
    server = Server(API_APP, port, {"TICKETBOOTH_CONFIG": str(config)}, tmp_path / "server.log", workers=2,
                    args=["-c", "python:ticketbooth.gunicorn_conf"])
    try:
        server.wait_ready("/healthz")
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 404
        assert requests.get(metrics_url, timeout=10).status_code == 401
        scrape = requests.get(metrics_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10).status_code == 404
    finally:
        server.stop()
    assert scrape.status_code == 200
    assert _value(scrape.text, "ticketbooth_http_requests_total", service="api", route="/healthz", method="GET",
                  status="200") >= 1
