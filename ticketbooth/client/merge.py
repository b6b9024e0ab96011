"""Merge one ticket's client profile into an existing client configuration: pure text in, text out.

Used by ``ticketbooth credentials ID --install``. Everything not ours is kept byte for byte: other sections,
comments, blank lines and key order. INI files (``~/.aws/credentials``, ``~/.aws/config``, ``rclone.conf``)
get our section replaced whole or appended; ``.s3cfg`` (s3cmd reads only ``[default]``) gets our keys set in
``[default]`` and keeps the rest of it; mc's ``config.json`` gets our alias and keeps the other aliases.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import TicketBoothError

__all__ = ["ConfigFileInvalid", "replace_section", "update_keys", "merge_mc_config"]

# A section header as configparser, botocore and rclone read it: "[name]" alone on a line.
_HEADER = re.compile(r"^[ \t]*\[([^\]\r\n]*)\][ \t]*(?:[#;].*)?$")
_KEY = re.compile(r"^[ \t]*([^=:\s\[#;][^=:]*?)[ \t]*[=:]")


class ConfigFileInvalid(TicketBoothError):
    """An existing client configuration file cannot be read; it is left untouched."""

    code = "config_file_invalid"
    status = 400


@dataclass
class _Block:
    name: str | None  # None: the lines before the first section
    lines: list[str]


def _blocks(text: str) -> list[_Block]:
    blocks = [_Block(None, [])]
    for line in text.splitlines(keepends=True):
        match = _HEADER.match(line.rstrip("\r\n"))
        if match:
            blocks.append(_Block(match.group(1).strip(), [line]))
        else:
            blocks[-1].lines.append(line)
    return blocks


def _trailer(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split a block into its content and its trailing blank/comment lines (which belong to what follows)."""
    cut = len(lines)
    while cut > 1 and (not lines[cut - 1].strip() or lines[cut - 1].lstrip()[:1] in ("#", ";")):
        cut -= 1
    return lines[:cut], lines[cut:]


def _section_of(section_text: str) -> _Block:
    """The first section of ``section_text`` (lines before its header, such as a comment naming the file, are
    dropped). ``ValueError`` when there is none."""
    for block in _blocks(section_text):
        if block.name is not None:
            content, _ = _trailer(block.lines)
            content = [line if line.endswith("\n") else line + "\n" for line in content]
            return _Block(block.name, content)
    raise ValueError("the profile text has no [section]")


def _join(blocks: list[_Block]) -> str:
    out = "".join("".join(block.lines) for block in blocks)
    return out


def _append(text: str, lines: list[str]) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    if text.strip() and not text.endswith("\n\n"):
        text += "\n"
    return text + "".join(lines)


def replace_section(text: str, section_text: str) -> str:
    """``text`` with the section that ``section_text`` holds put in place of the section of the same name (the
    first one; later duplicates are dropped, since readers disagree about which wins), or appended."""
    new = _section_of(section_text)
    blocks = _blocks(text)
    done = False
    for block in blocks:
        if block.name != new.name:
            continue
        _, trailer = _trailer(block.lines)
        block.lines = ([] if done else list(new.lines)) + trailer
        done = True
    if done:
        return _join(blocks)
    return _append(text, new.lines)


def _pairs(section: _Block) -> list[tuple[str, str]]:
    pairs = []
    for line in section.lines[1:]:
        match = _KEY.match(line)
        if match:
            pairs.append((match.group(1).strip(), line.split("=", 1)[1].strip() if "=" in line else ""))
    return pairs


def update_keys(text: str, section_text: str) -> str:
    """``text`` with every ``key = value`` of ``section_text``'s section set in the section of the same name
    (replacing that key's lines, keeping its other keys), or with the section appended when there is none."""
    new = _section_of(section_text)
    wanted = dict(_pairs(new))
    blocks = _blocks(text)
    for block in blocks:
        if block.name != new.name:
            continue
        content, trailer = _trailer(block.lines)
        kept, seen = [content[0]], set()
        for line in content[1:]:
            match = _KEY.match(line)
            key = match.group(1).strip() if match else None
            if key in wanted:
                if key not in seen:
                    kept.append(f"{key} = {wanted[key]}\n")
                    seen.add(key)
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
        kept += [f"{key} = {value}\n" for key, value in wanted.items() if key not in seen]
        block.lines = kept + trailer
        return _join(blocks)
    return _append(text, new.lines)


def merge_mc_config(existing: str | None, rendered: str) -> str:
    """mc's ``config.json`` with the aliases of ``rendered`` added or replaced, every other alias and key kept.

    Raises :class:`ConfigFileInvalid` when ``existing`` is not a JSON object with an object of aliases.
    """
    ours = json.loads(rendered)
    if existing is None or not existing.strip():
        document: dict = {"version": ours.get("version", "10"), "aliases": {}}
    else:
        try:
            document = json.loads(existing)
        except ValueError as err:
            raise ConfigFileInvalid(f"the mc configuration is not valid JSON ({err.msg} at line {err.lineno})"
                                    ) from None
        if not isinstance(document, dict) or not isinstance(document.setdefault("aliases", {}), dict):
            raise ConfigFileInvalid("the mc configuration is not a JSON object with an 'aliases' object")
        document.setdefault("version", ours.get("version", "10"))
    document["aliases"].update(ours["aliases"])
    return json.dumps(document, indent=2) + "\n"
