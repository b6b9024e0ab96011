"""Pure HTML for anonymous links: the listing page of a collection and the refusal pages.

Every name is HTML-escaped and every link URL-encoded (``quote`` of the name, ``/`` kept only as the
collection separator), so a file called ``<script>`` or ``a?b#c`` is shown and linked as itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

__all__ = ["LinkEntry", "listing_page", "message_page", "human_size"]


@dataclass(frozen=True)
class LinkEntry:
    """One row of a listing: ``name`` relative to the listed collection (sub-collections end with ``/``)."""

    name: str
    is_collection: bool
    size: int
    modified_at: datetime | None


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{padding:.2em 1em;text-align:left}td.n{text-align:right}")


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="robots" content="noindex"><style>{_STYLE}</style></head><body>{body}</body></html>\n'
            ).encode()


def listing_page(title: str, base_url: str, relative: str, entries: Sequence[LinkEntry]) -> bytes:
    """The listing of collection ``relative`` ("" for the ticket's root, else ending in ``/``).

    ``base_url`` is the link's root (``/_t/<ticket string>/``); links are built below it.
    """
    rows = []
    if relative:
        parent = relative.rstrip("/").rpartition("/")[0]
        rows.append(f'<tr><td><a href="{escape(base_url + quote(parent + "/" if parent else ""))}">../</a></td>'
                    "<td></td><td></td></tr>")
    for entry in entries:
        href = escape(base_url + quote(relative + entry.name, safe="/"))
        when = entry.modified_at.strftime("%Y-%m-%d %H:%M:%S UTC") if entry.modified_at else ""
        if entry.is_collection:
            rows.append(f'<tr><td><a href="{href}">{escape(entry.name)}</a></td><td class="n">-</td>'
                        f"<td>{escape(when)}</td></tr>")
        else:
            rows.append(f'<tr><td><a href="{href}" download>{escape(entry.name)}</a></td>'
                        f'<td class="n" title="{entry.size} bytes">{human_size(entry.size)}</td>'
                        f"<td>{escape(when)}</td></tr>")
    heading = escape(title + ("/" + relative if relative else "/"))
    body = (f"<h1>{heading}</h1><table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    if not entries:
        body += "<p>This collection is empty.</p>"
    return _page(title, body)


def message_page(title: str, message: str) -> bytes:
    """A short page explaining why a link does not work."""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
