"""Where the client finds its API and token: flags, then ``TICKETBOOTH_API_URL``/``TICKETBOOTH_TOKEN``, then the
login file that ``ticketbooth login`` writes.

The login file is ``$XDG_CONFIG_HOME/ticketbooth/login.json`` (else ``~/.config/ticketbooth/login.json``),
``{"api_url": ..., "token": ...}``, created owner-only (0600) in an owner-only directory.
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import TicketBoothError
from .files import write_private

__all__ = ["DEFAULT_API_URL", "Login", "LoginFileInvalid", "login_file", "read_login", "write_login", "resolve"]

DEFAULT_API_URL = "http://127.0.0.1:8080"


class LoginFileInvalid(TicketBoothError):
    """The login file cannot be used; run ``ticketbooth login`` again."""

    code = "login_file_invalid"
    status = 400


@dataclass(frozen=True)
class Login:
    """The API to talk to and the bearer token (None: none known; the API will answer 401)."""

    api_url: str
    token: str | None


def login_file(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    base = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "ticketbooth" / "login.json"


def read_login(path: Path) -> dict[str, str]:
    """The saved ``api_url``/``token`` (empty when there is no file). Raises :class:`LoginFileInvalid` when
    the file is not ours, or others may read it (a token readable by others is as good as leaked)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LoginFileInvalid(f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}); "
                               f"run 'chmod 600 {path}' or log in again")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise LoginFileInvalid(f"{path} is not a TicketBooth login file; run 'ticketbooth login' again")
    return data


def write_login(path: Path, api_url: str, token: str) -> None:
    """Save ``api_url`` and ``token`` to ``path`` (0600, replaced atomically)."""
    write_private(path, json.dumps({"api_url": api_url, "token": token}, indent=2) + "\n")
    os.chmod(path.parent, 0o700)


def resolve(api_url: str | None, token: str | None, environ: Mapping[str, str] | None = None) -> Login:
    """The API URL and token to use: each from its flag, else its environment variable, else the login file."""
    environ = os.environ if environ is None else environ
    api_url = api_url or environ.get("TICKETBOOTH_API_URL") or None
    token = token or environ.get("TICKETBOOTH_TOKEN") or None
    if api_url is None or token is None:
        saved = read_login(login_file(environ))
        api_url = api_url or saved.get("api_url")
        token = token or saved.get("token")
    return Login(api_url or DEFAULT_API_URL, token)
