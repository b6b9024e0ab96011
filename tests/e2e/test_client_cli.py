"""``ticketbooth login/share/tickets/credentials`` run as a subprocess against the live API (gunicorn), and the
profiles ``credentials --install`` merges used by the real aws and rclone (and s3cmd) against the live gateway."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .conftest import require_program

pytestmark = pytest.mark.clients


def ticketbooth_command() -> list[str]:
    script = Path(sys.executable).with_name("ticketbooth")
    if script.exists():  # the console script pip installed: what a user runs
        return [str(script)]
    found = shutil.which("ticketbooth")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from ticketbooth.cli import main; sys.exit(main())"]


class User:
    """One person at a terminal: their own HOME, no TICKETBOOTH_* or AWS_* variables of this machine."""

    def __init__(self, stack, home: Path, name: str) -> None:
        self.stack, self.home, self.name = stack, home, name
        home.mkdir(parents=True, exist_ok=True)
        self.env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
                    "AWS_EC2_METADATA_DISABLED": "true"}

    def run(self, *args: str, expect: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([*ticketbooth_command(), *args], env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
        return result

    def login(self) -> None:
        self.run("login", "--api-url", self.stack.api_url, "--token", self.stack.token(self.name))

    def tool(self, command: list[str], **extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run(command, env={**self.env, **extra}, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        return result


@pytest.fixture
def alice(stack, tmp_path) -> User:
    user = User(stack, tmp_path / "alice", "alice")
    user.login()
    return user


@pytest.fixture
def bob(stack, tmp_path) -> User:
    user = User(stack, tmp_path / "bob", "bob")
    user.login()
    return user


def test_login_saves_a_private_file_and_refuses_a_bad_token(stack, tmp_path):
    user = User(stack, tmp_path / "u", "alice")
    result = user.run("login", "--api-url", stack.api_url, "--token", "not-a-token", expect=3)
    assert "invalid_token" in result.stderr and "not-a-token" not in result.stderr
    assert not (tmp_path / "u" / ".config" / "ticketbooth" / "login.json").exists()
    token = stack.token("alice")
    user.run("login", "--api-url", stack.api_url, env={"TICKETBOOTH_TOKEN": token})
    piped = subprocess.run([*ticketbooth_command(), "login", "--api-url", stack.api_url, "--token", "-"],
                           input=token + "\n", env=user.env, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    saved = tmp_path / "u" / ".config" / "ticketbooth" / "login.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text()) == {"api_url": stack.api_url, "token": token}
    assert user.run("tickets", "list", "--json").stdout.strip().startswith("[")


def test_without_a_token_the_api_code_is_the_message(stack, tmp_path):
    user = User(stack, tmp_path / "nobody", "nobody")
    result = user.run("tickets", "list", "--api-url", stack.api_url, expect=3)
    assert result.stdout == ""
    assert result.stderr.startswith("ticketbooth tickets list: unauthenticated: ")
    result = user.run("tickets", "list", "--api-url", stack.api_url, "--json", expect=3)
    assert json.loads(result.stderr)["code"] == "unauthenticated"


def test_unreachable_api(stack, tmp_path):
    from .servers import free_port

    user = User(stack, tmp_path / "x", "alice")
    result = user.run("tickets", "list", "--api-url", f"http://127.0.0.1:{free_port()}", "--token", "t", expect=8)
    assert "unreachable" in result.stderr


def test_share_anonymous_prints_the_working_link(stack, alice):
    path = stack.home() + "/cli-public.txt"
    stack.seed(path, b"public words\n")
    result = alice.run("share", path, "--anonymous", "--expires", "2h", "--label", "poster")
    link = result.stdout.strip()
    assert link.startswith(stack.gateway_url + "/_t/") and "\n" not in link
    assert "anyone with the link" in result.stderr
    assert requests.get(link, timeout=30).content == b"public words\n"


def test_share_with_bob_then_bob_installs_and_uses_aws_and_rclone(stack, alice, bob, tmp_path):
    aws, rclone = require_program("aws"), require_program("rclone")
    coll = stack.collection("cli-shared")
    stack.seed(coll + "/data/one.csv", b"a,b\n1,2\n")
    result = alice.run("share", coll, "--users", "bob", "--expires", "7d", "--uses", "50", "--label", "for bob")
    ticket_id = int(result.stdout.strip())  # alice holds no keys for it: the id is what she hands out
    assert f"ticketbooth credentials {ticket_id} --install" in result.stderr

    listing = bob.run("tickets", "list", "--shared-with-me").stdout
    header, *rows = listing.splitlines()
    assert header.split() == ["ID", "STATUS", "ACCESS", "KIND", "USES", "EXPIRES", "PATH", "LABEL"]
    row = next(r for r in rows if r.split()[0] == str(ticket_id))
    assert row.split()[1:5] == ["active", "read", "coll", "0/50"] and coll in row and row.endswith("for bob")

    # Bob's own files: entries that must survive the merge.
    (bob.home / ".aws").mkdir()
    (bob.home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIAOLD\n"
                                                  "aws_secret_access_key = old\n\n# work\n[work]\nx = 1\n")
    (bob.home / ".aws" / "config").write_text("[default]\nregion = eu-north-1\n")
    (bob.home / ".config" / "rclone").mkdir(parents=True)
    (bob.home / ".config" / "rclone" / "rclone.conf").write_text("[local]\ntype = local\n")

    bob.run("credentials", str(ticket_id), "--format", "aws", "--install")
    bob.run("credentials", str(ticket_id), "--format", "rclone", "--install")
    credentials = (bob.home / ".aws" / "credentials").read_text()
    assert credentials.startswith("[default]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\n\n# work\n"
                                  "[work]\nx = 1\n")
    assert "[default]\nregion = eu-north-1\n" in (bob.home / ".aws" / "config").read_text()
    assert "[local]\ntype = local\n" in (bob.home / ".config" / "rclone" / "rclone.conf").read_text()
    for name in (".aws/credentials", ".aws/config", ".config/rclone/rclone.conf"):
        assert stat.S_IMODE((bob.home / name).stat().st_mode) == 0o600

    profile = f"ticket-{ticket_id}"
    out = bob.tool([aws, "--profile", profile, "s3", "cp", f"s3://{profile}/data/one.csv", "-"]).stdout
    assert out == "a,b\n1,2\n"
    assert bob.tool([rclone, "cat", f"{profile}:{profile}/data/one.csv"]).stdout == "a,b\n1,2\n"
    # Bob's default profile is still his (the aws cli reads it back unchanged).
    assert bob.tool([aws, "configure", "get", "aws_access_key_id"]).stdout.strip() == "AKIAOLD"
    assert stack.uses(ticket_id) >= 2  # every request of either client counted against the ticket's 50


def test_install_honours_the_clients_variables(stack, alice, tmp_path):
    aws = require_program("aws")
    s3cmd = require_program("s3cmd")
    coll = stack.collection("cli-vars")
    stack.seed(coll + "/x.txt", b"x\n")
    result = alice.run("share", coll, "--format", "json")
    ticket_id = json.loads(result.stdout)["ticket_id"]
    where = tmp_path / "elsewhere"
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(where / "creds"), "AWS_CONFIG_FILE": str(where / "conf"),
           "RCLONE_CONFIG": str(where / "rclone.conf"), "MC_CONFIG_DIR": str(where / "mc")}
    for fmt in ("aws", "rclone", "mc", "s3cmd"):
        alice.run("credentials", str(ticket_id), "--format", fmt, "--install", env=env)
    assert sorted(p.name for p in where.iterdir()) == ["conf", "creds", "mc", "rclone.conf"]
    assert json.loads((where / "mc" / "config.json").read_text())["aliases"][f"ticket-{ticket_id}"]["path"] == "on"
    assert not (alice.home / ".aws").exists()
    profile = f"ticket-{ticket_id}"
    alice.tool([aws, "--profile", profile, "s3", "ls", f"s3://{profile}/"], **env)
    assert "x.txt" in alice.tool([s3cmd, "ls", f"s3://{profile}/"]).stdout  # ~/.s3cfg


def test_share_credentials_in_any_format_and_refusal_leaves_nothing(stack, alice):
    coll = stack.collection("cli-formats")
    env_text = alice.run("share", coll, "--write").stdout
    assert "export AWS_ACCESS_KEY_ID=" in env_text and "export AWS_ENDPOINT_URL_S3=" in env_text
    before = json.loads(alice.run("tickets", "list", "--path", coll, "--json").stdout)
    result = alice.run("share", coll, "--format", "no-such-format", expect=7)
    assert "validation_error" in result.stderr and "format" in result.stderr
    after = json.loads(alice.run("tickets", "list", "--path", coll, "--json").stdout)
    assert [t["id"] for t in after] == [t["id"] for t in before]  # the ticket made for it was taken back


def test_show_update_revoke(stack, alice):
    coll = stack.collection("cli-lifecycle")
    ticket = json.loads(alice.run("share", coll, "--json", "--label", "first").stdout)
    ticket_id = str(ticket["id"])
    shown = alice.run("tickets", "show", ticket_id).stdout
    assert shown.splitlines()[0].split() == ["Ticket:", ticket_id]
    assert "Label:" in shown and shown.count("first") == 1
    assert ticket["ticket"] not in shown  # the ticket string is a secret: not shown to people
    updated = json.loads(alice.run("tickets", "update", ticket_id, "--uses", "3", "--expires", "1d",
                                   "--no-label", "--users", "alice", "bob", "--json").stdout)
    assert updated["uses_limit"] == 3 and updated["label"] is None and updated["expires_at"]
    assert sorted(updated["users"]) == ["alice", "bob"]
    assert alice.run("tickets", "update", ticket_id, expect=2).stderr.endswith(
        "usage_error: nothing to change: give at least one option (see --help)\n")
    assert alice.run("tickets", "update", ticket_id, "--expires", "1d", "--no-expiry", expect=2).stderr.count(
        "contradict")
    assert alice.run("credentials", ticket_id, "--format", "env", "--install", expect=2).stderr.endswith(
        "--install needs --format aws, rclone, mc, s3cmd\n")
    assert alice.run("tickets", "update", ticket_id, "--expires", "soon", expect=2).stderr.count("not a duration")
    assert alice.run("tickets", "list", "--status", "bogus", expect=7).stderr.count("validation_error")
    alice.run("tickets", "revoke", ticket_id)
    result = alice.run("tickets", "show", ticket_id, expect=5)
    assert result.stderr.startswith("ticketbooth tickets show: ticket_not_found: ")
    alice.run("tickets", "revoke", ticket_id, expect=5)


def test_not_the_owner(stack, alice, bob):
    coll = stack.collection("cli-mine")
    result = bob.run("share", coll, expect=4)
    assert "permission_denied" in result.stderr
    ticket_id = json.loads(alice.run("share", coll, "--json").stdout)["id"]
    assert "ticket_not_found" in bob.run("tickets", "revoke", str(ticket_id), expect=5).stderr
    alice.run("tickets", "show", str(ticket_id))  # still there


def test_admins_list_every_owner(stack, alice, tmp_path):
    from datetime import UTC, datetime

    from ticketbooth.api.auth import issue_dev_token

    coll = stack.collection("cli-admin")
    ticket_id = json.loads(alice.run("share", coll, "--json").stdout)["id"]
    admin = User(stack, tmp_path / "root", "root")
    token = issue_dev_token(stack.settings, "root", True, datetime.now(UTC), lifetime=600)
    every = json.loads(admin.run("tickets", "list", "--all", "--json", "--api-url", stack.api_url,
                                 "--token", token).stdout)
    assert ticket_id in [t["id"] for t in every]
    owned = json.loads(admin.run("tickets", "list", "--owner", "alice", "--path", coll, "--json",
                                 "--api-url", stack.api_url, "--token", token).stdout)
    assert [t["id"] for t in owned] == [ticket_id]
    refused = alice.run("tickets", "list", "--all", expect=4)
    assert "permission_denied" in refused.stderr
