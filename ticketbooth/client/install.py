"""``--install``: write a ticket's client profile into the files the client reads, merged (see :mod:`.merge`).

Where each client looks, as the clients themselves decide it:

========  ==============================================================================================
aws       ``$AWS_SHARED_CREDENTIALS_FILE`` (else ``~/.aws/credentials``) and ``$AWS_CONFIG_FILE`` (else
          ``~/.aws/config``)
rclone    ``$RCLONE_CONFIG``, else ``$XDG_CONFIG_HOME/rclone/rclone.conf`` (else ``~/.config/rclone/...``)
mc        ``$MC_CONFIG_DIR/config.json``, else ``~/.mc/config.json``
s3cmd     ``~/.s3cfg`` (s3cmd reads ``[default]`` only: our keys replace its credentials and endpoint)
========  ==============================================================================================

Each file is replaced atomically (a temporary file in the same directory, then ``rename``), made readable by
its owner only (0600), and a symlinked file is written where the link points.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..clientconfig import aws_parts
from .files import read_text, write_private
from .merge import merge_mc_config, replace_section, update_keys

__all__ = ["INSTALLABLE", "Installed", "install_profile", "target_files"]


@dataclass(frozen=True)
class Installed:
    """One file written: ``path`` and whether it existed before (merged) or was created."""

    path: Path
    created: bool


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or os.path.expanduser("~"))


def _aws_files(environ: Mapping[str, str]) -> list[Path]:
    home = _home(environ)
    return [Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"),
            Path(environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config")]


def _rclone_files(environ: Mapping[str, str]) -> list[Path]:
    if environ.get("RCLONE_CONFIG"):
        return [Path(environ["RCLONE_CONFIG"])]
    base = Path(environ.get("XDG_CONFIG_HOME") or _home(environ) / ".config")
    return [base / "rclone" / "rclone.conf"]


def _mc_files(environ: Mapping[str, str]) -> list[Path]:
    base = Path(environ["MC_CONFIG_DIR"]) if environ.get("MC_CONFIG_DIR") else _home(environ) / ".mc"
    return [base / "config.json"]


def _s3cmd_files(environ: Mapping[str, str]) -> list[Path]:
    return [_home(environ) / ".s3cfg"]


def _merge_aws(existing: list[str | None], rendered: str) -> list[str]:
    credentials, config = aws_parts(rendered)
    return [replace_section(existing[0] or "", credentials), replace_section(existing[1] or "", config)]


def _merge_one(merge: Callable[[str, str], str]) -> Callable[[list[str | None], str], list[str]]:
    return lambda existing, rendered: [merge(existing[0] or "", rendered)]


#: Format -> (where its files are, how the rendered profile merges into their current texts).
INSTALLABLE: dict[str, tuple[Callable[[Mapping[str, str]], list[Path]],
                             Callable[[list[str | None], str], list[str]]]] = {
    "aws": (_aws_files, _merge_aws),
    "rclone": (_rclone_files, _merge_one(replace_section)),
    "mc": (_mc_files, lambda existing, rendered: [merge_mc_config(existing[0], rendered)]),
    "s3cmd": (_s3cmd_files, _merge_one(update_keys)),
}


def target_files(format: str, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files ``--install`` of ``format`` writes; ``KeyError`` for a format that has none."""
    return INSTALLABLE[format][0](os.environ if environ is None else environ)


def install_profile(format: str, rendered: str, environ: Mapping[str, str] | None = None) -> list[Installed]:
    """Merge ``rendered`` (the API's ``credentials?format=<format>`` text) into the client's files.

    Every file is merged in memory first, so a file that cannot be read as its client's format
    (:class:`~.merge.ConfigFileInvalid`) leaves all of them untouched. ``KeyError`` for a format without files.
    """
    where, merge = INSTALLABLE[format]
    paths = [Path(os.path.realpath(path)) for path in where(os.environ if environ is None else environ)]
    existing = [read_text(path) for path in paths]
    texts = merge(existing, rendered)
    for path, text in zip(paths, texts, strict=True):
        write_private(path, text)
    return [Installed(path, before is None) for path, before in zip(paths, existing, strict=True)]
