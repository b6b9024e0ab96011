"""log_format = "json" under real gunicorn: every line both processes write (gunicorn's own, access, audit,
application) is one JSON object with time, level, logger, message and request_id; access lines carry the id the
response was sent with; no ticket string, signature or secret appears anywhere."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.settings import load_settings

from .servers import API_APP, Server, free_port

FIELDS = {"time", "level", "logger", "message", "request_id"}


def _lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        record = json.loads(line)  # fails the test for any line that is not one JSON object
        assert isinstance(record, dict) and FIELDS <= set(record), line
        datetime.fromisoformat(record["time"])
        parsed.append(record)
    return parsed


def test_both_processes_log_json_lines(tmp_path):
    hs256 = secrets.token_hex(24)
    master = secrets.token_hex(32)
    gateway_port = free_port()
    config = tmp_path / "ticketbooth.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nlog_level = "INFO"\nlog_format = "json"\n'
        f'[auth]\nhs256_secret = "{hs256}"\n'
        f'[s3]\nmaster_key = "{master}"\nendpoint_url = "http://127.0.0.1:{gateway_port}"\n'
        '[embedded]\nusers = ["alice"]\n'
    )
    env = {"TICKETBOOTH_CONFIG": str(config)}
    (tmp_path / "data" / "zone" / "tempZone" / "home" / "alice" / "ds").mkdir(parents=True)
    (tmp_path / "data" / "zone" / "tempZone" / "home" / "alice" / "ds" / "a.txt").write_bytes(b"hello")
    api_log, gateway_log = tmp_path / "api.log", tmp_path / "gateway.log"
    api = Server(API_APP, free_port(), env, api_log,
                 args=["-c", "python:ticketbooth.gunicorn_conf", "--log-level", "info"])
    gateway = None
    try:
        api.wait_ready("/healthz")
        with open(gateway_log, "ab") as out:
            gateway = subprocess.Popen([sys.executable, "-m", "ticketbooth.cli", "gateway", "--config", str(config),
                                        "--port", str(gateway_port)], stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, **env})
        settings = load_settings(config, environ={})
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.post(api.url + "/v1/tickets", json={"path": "/tempZone/home/alice/ds", "anonymous": True},
                                headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        ticket = created.json()
        listed = requests.get(api.url + "/v1/tickets", headers=headers, timeout=10)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        deadline = datetime.now(UTC).timestamp() + 30
        while True:
            try:
                link = requests.get(f"{gateway_url}/_t/{ticket['ticket']}/a.txt", timeout=5)
                break
            except requests.ConnectionError:
                assert datetime.now(UTC).timestamp() < deadline, gateway_log.read_text()
                time.sleep(0.1)
        assert link.status_code == 200 and link.content == b"hello"
        signature = "ab" * 32
        forged = requests.get(f"{gateway_url}/ticket-{ticket['id']}/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                              f"&X-Amz-Credential=AKIAFAKE%2F20300101%2Fus-east-1%2Fs3%2Faws4_request"
                              f"&X-Amz-Date=20300101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
                              f"&X-Amz-Signature={signature}", timeout=10)
        assert forged.status_code == 403
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(timeout=20)
        api.stop()

    api_lines, gateway_lines = _lines(api_log), _lines(gateway_log)
    for lines in (api_lines, gateway_lines):
        assert any(line["logger"].startswith("gunicorn.error") for line in lines)  # gunicorn's own lines
    access = [line for line in api_lines if line["logger"] == "gunicorn.access"]
    ids = {line["request_id"] for line in access}
    assert created.headers["X-Request-Id"] in ids and listed.headers["X-Request-Id"] in ids
    post = next(line for line in access if line["request_id"] == created.headers["X-Request-Id"])
    assert post["http"]["method"] == "POST" and post["http"]["status"] == "201"
    audit = [line for line in api_lines if line["logger"] == "ticketbooth.audit"]
    assert [line["event"]["action"] for line in audit] == ["created"]
    assert audit[0]["request_id"] == created.headers["X-Request-Id"]
    gateway_access = {line["request_id"]: line for line in gateway_lines if line["logger"] == "gunicorn.access"}
    assert link.headers["x-amz-request-id"] in gateway_access
    assert gateway_access[link.headers["x-amz-request-id"]]["http"]["path"] == "/_t/<redacted>/a.txt"
    denied = [line for line in gateway_lines if line["logger"] == "ticketbooth.audit"]
    assert [(line["event"]["action"], line["request_id"]) for line in denied] == [
        ("denied", forged.headers["x-amz-request-id"])]
    everything = api_log.read_text() + gateway_log.read_text()
    for secret in (ticket["ticket"], signature, hs256, master, token):
        assert secret not in everything
