"""Headless Chromium for tests: load a page with every non-loopback host blocked, then read the DOM as rendered
(after its scripts ran, via ``--virtual-time-budget``), every request made (from Chromium's net log), or a
screenshot. Each run uses a fresh profile directory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

import pytest

__all__ = ["Chromium", "PageLoad", "Request", "chromium", "is_loopback"]

# Every name resolves to nothing except the loopback address the servers under test listen on.
BLOCK_REMOTE = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
FLAGS = ["--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-default-apps", "--hide-scrollbars", "--mute-audio", f"--host-resolver-rules={BLOCK_REMOTE}"]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Request:
    url: str
    initiator: str  # the page origin that asked, or "not an origin" for the browser's own requests
    method: str


@dataclass(frozen=True)
class PageLoad:
    dom: str
    requests: list[Request]
    console: list[str]  # the page's console messages, CSP violations included

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]

    def page_requests(self) -> list[Request]:
        """Requests the page made or was navigated by (not the browser's own background services)."""
        return [r for r in self.requests if r.initiator != "not an origin" or is_loopback(r.url)]


class Chromium:
    def __init__(self, binary: str) -> None:
        self.binary = binary

    def _run(self, url: str, extra: list[str], budget_ms: int) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            command = [self.binary, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                       *extra, url]
            if os.geteuid() == 0:
                command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
            result = subprocess.run(command, capture_output=True, timeout=180)
        if result.returncode != 0:
            raise AssertionError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]!r}")
        return result

    def load(self, url: str, *, budget_ms: int = 15000) -> PageLoad:
        with tempfile.TemporaryDirectory(prefix="netlog-") as tmp:
            netlog = Path(tmp) / "net.json"
            result = self._run(url, ["--dump-dom", f"--log-net-log={netlog}", "--enable-logging=stderr",
                                     "--log-level=0"], budget_ms)
            console = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if ":CONSOLE" in line]
            return PageLoad(result.stdout.decode("utf-8", "replace"), _requests(netlog), console)

    def screenshot(self, url: str, path: Path, *, size: tuple[int, int] = (1200, 800), budget_ms: int = 10000,
                   ) -> Path:
        self._run(url, [f"--screenshot={path}", f"--window-size={size[0]},{size[1]}"], budget_ms)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot was written"
        return path


def _requests(netlog: Path) -> list[Request]:
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "url" in params:
            found.append(Request(params["url"], str(params.get("initiator", "")), params.get("method", "")))
    return found


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return Chromium(path)
    message = "chromium is not installed (.ci/run installs it from Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
