"""Run the committed JavaScript client scripts in tests/e2e/js/ (``node script.mjs scenario``) with a ticket's
key pair from the API's ``credentials?format=env`` output, and parse the JSON they print."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import ClientFiles

JS_DIR = Path(__file__).parent / "js"


def node_project() -> Path:
    """The JS project with its pinned node_modules, installed with ``npm ci`` when missing (.ci/run installs it
    first); skipped only where node/npm are absent, which tests/ci_skips.py fails under CI."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed (.ci/run installs nodejs and npm from Debian)")
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)], check=True,
                       capture_output=True, timeout=600)
    return JS_DIR


def ticket_env(files: ClientFiles) -> dict[str, str]:
    """The ``export NAME=value`` lines of the ticket's env credentials, as a dictionary."""
    env = dict(files.env)
    for line in files.shell_env().read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def ticket_keys(stack: Any, workdir: Path, collection: str, access: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new ``access`` ticket on ``collection`` and the environment a script reads its key pair from."""
    ticket = stack.create_ticket(collection, access=access)
    return ticket, ticket_env(ClientFiles(stack, workdir, ticket["id"]))


def run_node(script: str, scenario: str, env: dict[str, str]) -> Any:
    """``node script scenario`` in the JS project; its stdout's JSON (a failure shows stderr)."""
    project = node_project()
    result = subprocess.run(["node", str(project / script), scenario], cwd=project, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{script} {scenario} failed:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout)


def pattern(length: int, seed: int) -> bytes:
    """The scripts' deterministic test bytes: byte i is (i * 31 + seed) mod 256."""
    return bytes((i * 31 + seed) & 0xFF for i in range(length))
