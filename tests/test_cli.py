"""The ``ticketbooth`` command line: token issuing, the demo secret, help, and the OpenAPI writer."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from ticketbooth import cli

SECRET = "cli-test-secret-" + "c" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("TICKETBOOTH_"):
            monkeypatch.delenv(name)


def test_token_refuses_without_a_secret(tmp_path, capsys):
    status = cli.main(["token", "--user", "alice", "--data-dir", str(tmp_path)])
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "hs256_secret" in captured.err and "serve --demo" in captured.err


def test_token_with_configured_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TICKETBOOTH_AUTH__HS256_SECRET", SECRET)
    assert cli.main(["token", "--user", "alice", "--admin", "--lifetime", "60", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["preferred_username"] == "alice"
    assert claims["realm_access"]["roles"] == ["ticketbooth-admin"]
    assert claims["exp"] - claims["iat"] == 60


def test_token_reads_the_config_file(tmp_path, capsys):
    config = tmp_path / "tb.toml"
    config.write_text(f'[auth]\nhs256_secret = "{SECRET}"\n')
    assert cli.main(["token", "--user", "bob", "--config", str(config)]) == 0
    assert jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])["sub"] == "bob"


def test_token_refuses_invalid_user(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TICKETBOOTH_AUTH__HS256_SECRET", SECRET)
    assert cli.main(["token", "--user", "no/such", "--data-dir", str(tmp_path)]) == 2
    assert "valid user name" in capsys.readouterr().err


def test_demo_secret_is_private_and_shared_with_token(tmp_path, capsys):
    settings = cli.load_cli_settings(cli.build_parser().parse_args(["token", "--user", "x", "--data-dir",
                                                                    str(tmp_path)]))
    assert cli.dev_secret(settings, create=False) is None
    secret = cli.dev_secret(settings, create=True)
    assert stat.S_IMODE(os.stat(tmp_path / cli.DEV_SECRET_FILE).st_mode) == 0o600
    assert cli.dev_secret(settings, create=True) == secret  # made once, then reused
    assert cli.main(["token", "--user", "alice", "--data-dir", str(tmp_path)]) == 0
    assert jwt.decode(capsys.readouterr().out.strip(), secret, algorithms=["HS256"])["sub"] == "alice"


def test_invalid_configuration_is_exit_2(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[auth]\nmode = 'kerberos'\n")
    assert cli.main(["token", "--user", "alice", "--config", str(config)]) == 2
    assert "auth.mode" in capsys.readouterr().err


def test_serve_help_lists_its_options():
    result = subprocess.run([sys.executable, "-m", "ticketbooth.cli", "serve", "--help"], capture_output=True,
                            text=True, check=True)
    for option in ("--host", "--port", "--data-dir", "--config", "--demo"):
        assert option in result.stdout


def test_subcommands_are_registered_in_one_place():
    parser = cli.build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    assert {"serve", "token", "openapi"} <= names
    assert len(cli.SUBCOMMANDS) == len(names)


def _fenced(markdown: str, language: str) -> list[list[str]]:
    """The lines of each ```<language> block of ``markdown``."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in markdown.splitlines():
        if current is None and line.strip() == f"```{language}":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def test_readme_quick_start_is_what_ci_runs():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in _fenced(quick_start, "sh") for line in block]
    assert commands == ["python -m venv .venv", ". .venv/bin/activate", "pip install -e .",
                        "ticketbooth serve --demo", ci[-1]]


def test_copy_blocks_hold_commands_without_prompts():
    root = Path(__file__).resolve().parents[1]
    for name in ("README.md", "docs/cli.md"):
        text = (root / name).read_text(encoding="utf-8")
        blocks = _fenced(text, "sh")
        assert blocks, name
        for block in blocks:
            assert not any(line.startswith(("$ ", "# ", ">>> ")) for line in block), (name, block)
        # No indented code blocks either: those mixed prompts and output before.
        assert not [line for line in text.splitlines() if line.startswith("    $ ")], name


def test_serve_demo_seeds_data_and_a_dev_secret(tmp_path, monkeypatch, capsys):
    served = {}
    monkeypatch.setattr(cli, "_run_server", lambda settings, **kw: served.update(settings=settings, **kw))
    data = tmp_path / "data"
    assert cli.main(["serve", "--demo", "--data-dir", str(data), "--port", "18099"]) == 0
    secret = (data / cli.DEV_SECRET_FILE).read_text().strip()
    assert served["settings"].auth.hs256_secret == secret and served["settings"].server.port == 18099
    assert (data / "zone" / "tempZone" / "home" / "alice").is_dir()
    assert "ticketbooth token --user alice" in capsys.readouterr().err
    # A configured secret wins over the file.
    monkeypatch.setenv("TICKETBOOTH_AUTH__HS256_SECRET", SECRET)
    assert cli.main(["serve", "--demo", "--data-dir", str(data)]) == 0
    assert served["settings"].auth.hs256_secret == SECRET


def test_gateway_defaults_to_one_worker_per_usable_cpu_with_few_threads(monkeypatch, capsys):
    monkeypatch.setattr(cli, "usable_cpus", lambda: 3)  # tests/test_cpus.py: how the count is found
    args = cli.build_parser().parse_args(["gateway"])
    assert (args.workers, args.threads) == (3, 4)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["gateway", "--help"])
    assert "one per usable CPU, 3 here" in " ".join(capsys.readouterr().out.split())
    serve = cli.build_parser().parse_args(["serve"])
    assert (serve.workers, serve.threads) == (1, 8)
    explicit = cli.build_parser().parse_args(["gateway", "--workers", "1", "--threads", "8"])
    assert (explicit.workers, explicit.threads) == (1, 8)
