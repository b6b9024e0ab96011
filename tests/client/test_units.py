"""Pure parts of the client: durations, tables, where --install writes, the login file."""
from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketbooth.client.commands import EXIT_STATUS, UsageError, exit_status
from ticketbooth.client.durations import UNITS, parse_duration
from ticketbooth.client.http import ApiClient, ApiError
from ticketbooth.client.install import install_profile, target_files
from ticketbooth.client.login import (
    DEFAULT_API_URL,
    LoginFileInvalid,
    login_file,
    read_login,
    resolve,
    write_login,
)
from ticketbooth.client.merge import ConfigFileInvalid
from ticketbooth.client.output import short_time, table, ticket_details


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800),
                                               ("2w", 1209600), ("1d12h", 129600), (" 7D ", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0d", "7x", "d", "1.5h", "-3d", "7d ago", "1d 2h", "99999999d"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.lists(st.tuples(st.integers(1, 500), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4))
def test_duration_is_the_sum_of_its_parts(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum(n * UNITS[u] for n, u in parts)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_a_value_error(text):
    try:
        assert parse_duration(text) > 0
    except ValueError:
        pass


def test_table_aligns_columns():
    assert table(("ID", "PATH"), [("1", "/a"), ("10", "/b/c")]) == "ID  PATH\n1   /a\n10  /b/c\n"


def test_short_time_is_utc():
    assert short_time("2026-11-22T17:23:52+01:00") == "2026-11-22 16:23 UTC"
    assert short_time(None) == "never"


def test_details_show_no_secret():
    text = ticket_details({"id": 3, "ticket": "SECRETSTRING", "path": "/z/home/a", "access": "read",
                           "credentials": {"secret_access_key": "SECRETKEY"}, "users": ["a"], "s3": {}})
    assert "SECRET" not in text and "Ticket:" in text and "/z/home/a" in text


@pytest.mark.parametrize(("status", "code"), [(401, 3), (403, 4), (404, 5), (409, 6), (422, 7), (400, 7), (0, 8),
                                              (500, 8), (503, 8), (418, 1)])
def test_exit_status_by_api_status(status, code):
    assert exit_status(ApiError("x", "y", status=status)) == code
    assert len(set(EXIT_STATUS.values()) | {1, 2}) == 8  # distinct outcomes stay distinct
    assert exit_status(UsageError("bad options")) == 2


def test_api_url_must_be_http():
    with pytest.raises(ApiError) as info:
        ApiClient("file:///etc/passwd", None)
    assert info.value.code == "invalid_api_url"


def test_targets_follow_the_clients_environment(tmp_path):
    env = {"HOME": str(tmp_path)}
    assert target_files("aws", env) == [tmp_path / ".aws/credentials", tmp_path / ".aws/config"]
    assert target_files("rclone", env) == [tmp_path / ".config/rclone/rclone.conf"]
    assert target_files("mc", env) == [tmp_path / ".mc/config.json"]
    assert target_files("s3cmd", env) == [tmp_path / ".s3cfg"]
    env = {"HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": "/c/creds", "AWS_CONFIG_FILE": "/c/conf",
           "RCLONE_CONFIG": "/c/rclone.conf", "MC_CONFIG_DIR": "/c/mc", "XDG_CONFIG_HOME": "/x"}
    assert [str(p) for p in target_files("aws", env)] == ["/c/creds", "/c/conf"]
    assert [str(p) for p in target_files("rclone", env)] == ["/c/rclone.conf"]
    assert [str(p) for p in target_files("mc", env)] == ["/c/mc/config.json"]
    assert target_files("rclone", {"HOME": "/h", "XDG_CONFIG_HOME": "/x"})[0].as_posix() == "/x/rclone/rclone.conf"
    with pytest.raises(KeyError):
        target_files("env", env)


def test_install_writes_through_a_symlink_privately(tmp_path):
    real = tmp_path / "dotfiles" / "rclone.conf"
    real.parent.mkdir()
    real.write_text("[mine]\ntype = local\n")
    link = tmp_path / "rclone.conf"
    link.symlink_to(real)
    written = install_profile("rclone", "[ticket-1]\ntype = s3\n", {"HOME": str(tmp_path), "RCLONE_CONFIG": str(link)})
    assert link.is_symlink()
    assert real.read_text() == "[mine]\ntype = local\n\n[ticket-1]\ntype = s3\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert [w.created for w in written] == [False]
    assert [p.name for p in real.parent.iterdir()] == ["rclone.conf"]  # no temporary file left


def test_install_leaves_a_file_it_cannot_read_untouched(tmp_path):
    config = tmp_path / ".mc" / "config.json"
    config.parent.mkdir()
    config.write_text("{broken")
    with pytest.raises(ConfigFileInvalid):
        install_profile("mc", json.dumps({"version": "10", "aliases": {"t": {}}}), {"HOME": str(tmp_path)})
    assert config.read_text() == "{broken"


def test_login_file_is_private_and_read_back(tmp_path):
    env = {"HOME": str(tmp_path)}
    path = login_file(env)
    write_login(path, "http://api.example:8080", "tok")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert resolve(None, None, env).api_url == "http://api.example:8080"
    assert resolve(None, None, env).token == "tok"
    # Flags beat variables beat the file.
    env2 = {**env, "TICKETBOOTH_API_URL": "http://v:1", "TICKETBOOTH_TOKEN": "envtok"}
    assert resolve(None, None, env2).token == "envtok" and resolve(None, None, env2).api_url == "http://v:1"
    assert resolve("http://f:2", "flagtok", env2).token == "flagtok"


def test_login_file_readable_by_others_is_refused(tmp_path):
    env = {"HOME": str(tmp_path)}
    path = login_file(env)
    write_login(path, "http://a:1", "tok")
    os.chmod(path, 0o644)
    with pytest.raises(LoginFileInvalid) as info:
        read_login(path)
    assert "chmod 600" in info.value.message and "tok" not in info.value.message


def test_no_login_file_means_defaults(tmp_path):
    login = resolve(None, None, {"HOME": str(tmp_path)})
    assert login.api_url == DEFAULT_API_URL and login.token is None


def test_a_redirect_is_reported_not_followed(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append((self.command, self.path))
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/v1/tickets")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}", "tok")
        with pytest.raises(ApiError) as info:
            client.create_ticket("/z/home/a")
    finally:
        server.shutdown()
        server.server_close()
    assert info.value.code == "redirected" and "https://elsewhere.example/v1/tickets" in info.value.message
    assert seen == [("POST", "/v1/tickets")]  # once, and nothing sent to the other host


def test_details_of_a_public_ticket_show_its_link_and_bucket():
    text = ticket_details({"id": 2, "anonymous": True, "access": "read", "path": "/z/home/a/f.txt",
                           "links": {"public": "http://gw/_t/S/f.txt"},
                           "s3": {"bucket": "ticket-2", "public_bucket": "pub-abc"}})
    assert "Public link:   http://gw/_t/S/f.txt\n" in text and "Public bucket: pub-abc\n" in text
    assert "Access:        read, public link\n" in text
