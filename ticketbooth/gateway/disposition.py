"""How a link serves a file: shown in the browser or downloaded, and the ``Content-Disposition`` naming it (pure).

Text, images, PDF, audio and video are shown inline; anything a browser could run script in (HTML, SVG, XML,
see :func:`ticketbooth.responseheaders.is_scriptable`) and anything unknown is downloaded. Text is shown as
``text/plain; charset=utf-8`` so a ``.csv`` or ``.md`` is displayed rather than handed to a download.

``Content-Disposition`` carries both a plain ``filename=`` (ASCII, for curl ``-OJ``, wget and older clients)
and ``filename*=`` (RFC 6266/5987, UTF-8, for browsers), so every client saves the file under its name.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import quote

from ..responseheaders import is_scriptable

__all__ = ["INLINE_TYPES", "ascii_filename", "content_disposition", "inline_type"]

#: Media types a browser displays itself and that cannot run script (besides text/*, which is shown as plain).
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "image/x-icon",
    "application/pdf", "application/json",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/flac", "video/mp4", "video/webm", "video/ogg",
})


def inline_type(content_type: str | None) -> str | None:
    """The Content-Type to show a file of ``content_type`` inline with, or None when it must be downloaded."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if not media or is_scriptable(media):
        return None
    if media.startswith("text/"):
        return "text/plain; charset=utf-8"
    return media if media in INLINE_TYPES else None


def ascii_filename(name: str) -> str:
    """``name`` reduced to printable ASCII for ``filename=``: accents dropped (é -> e), anything else that is
    not safe inside a quoted string replaced by ``_``; ``download`` when nothing usable is left."""
    decomposed = unicodedata.normalize("NFKD", name)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        out.append(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\/%' else "_")
    text = "".join(out).strip()
    return text if text.strip("._") else "download"


def content_disposition(name: str, *, inline: bool) -> str:
    """``inline``/``attachment`` with ``filename="<ascii>"`` and ``filename*=UTF-8''<percent-encoded>``."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
