"""Pure HTML for anonymous links: the listing page of a collection and the refusal pages.

Every name is HTML-escaped and every link URL-encoded (``quote`` of the name, ``/`` kept only as the
collection separator), so a file called ``<script>`` or ``a?b#c`` is shown and linked as itself. The pages run
no script, and their one ``<style>`` block is fixed text (the gateway's CSP allows it by hash).

A listing has a breadcrumb (each level links to its listing), a "Download all (zip)" link (``?download=zip``
on the collection's URL), and per file a link that shows it in the browser where it can be shown (see
:mod:`.disposition`) plus a download button (``?download=1``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

__all__ = ["LinkEntry", "listing_page", "message_page", "human_size", "DOWNLOAD_QUERY", "ZIP_QUERY"]

#: Query strings the pages link to: a file as an attachment, a collection as a zip archive.
DOWNLOAD_QUERY = "download=1"
ZIP_QUERY = "download=zip"


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


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}"
    "nav{font-size:1.3em;margin-bottom:1em}nav a{text-decoration:none}nav span.sep{color:#888;margin:0 .3em}"
    "table{border-collapse:collapse;width:100%}th{border-bottom:2px solid #ccc}"
    "td,th{padding:.35em .8em;text-align:left}tr:nth-child(even) td{background:#f5f5f5}"
    "td.n{text-align:right;white-space:nowrap}td.d{white-space:nowrap;color:#555}"
    "a.button{display:inline-block;padding:.15em .7em;border:1px solid #36c;border-radius:4px;color:#36c;"
    "text-decoration:none;font-size:.9em}a.button:hover{background:#36c;color:#fff}"
    "p.all{margin:1em 0}"
)


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex"><style>{_STYLE}</style></head><body>{body}</body></html>\n'
            ).encode()


def _href(base_url: str, relative: str, query: str = "") -> str:
    return escape(base_url + quote(relative, safe="/") + (f"?{query}" if query else ""))


def _breadcrumb(title: str, base_url: str, relative: str) -> str:
    parts = [p for p in relative.split("/") if p]
    crumbs = [(title, "")] + [(part, "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]
    items = []
    for index, (name, target) in enumerate(crumbs):
        if index == len(crumbs) - 1:
            items.append(f'<strong aria-current="page">{escape(name)}</strong>')
        else:
            items.append(f'<a href="{_href(base_url, target)}">{escape(name)}</a>')
    return '<nav aria-label="breadcrumb">' + '<span class="sep">/</span>'.join(items) + "</nav>"


def listing_page(title: str, base_url: str, relative: str, entries: Sequence[LinkEntry]) -> bytes:
    """The listing of collection ``relative`` ("" for the ticket's root, else ending in ``/``).

    ``base_url`` is the link's root (``/_t/<ticket string>/``); links are built below it.
    """
    rows = []
    if relative:
        parent = relative.rstrip("/").rpartition("/")[0]
        rows.append(f'<tr><td><a href="{_href(base_url, parent + "/" if parent else "")}">../</a></td>'
                    "<td></td><td></td><td></td></tr>")
    for entry in entries:
        target = relative + entry.name
        when = entry.modified_at.strftime("%Y-%m-%d %H:%M:%S UTC") if entry.modified_at else ""
        if entry.is_collection:
            rows.append(f'<tr><td><a href="{_href(base_url, target)}">{escape(entry.name)}</a></td>'
                        f'<td class="n">-</td><td class="d">{escape(when)}</td>'
                        f'<td><a class="button" href="{_href(base_url, target, ZIP_QUERY)}">zip</a></td></tr>')
        else:
            rows.append(f'<tr><td><a href="{_href(base_url, target)}">{escape(entry.name)}</a></td>'
                        f'<td class="n" title="{entry.size} bytes">{human_size(entry.size)}</td>'
                        f'<td class="d">{escape(when)}</td>'
                        f'<td><a class="button" href="{_href(base_url, target, DOWNLOAD_QUERY)}" download>'
                        "Download</a></td></tr>")
    body = _breadcrumb(title, base_url, relative)
    if entries:
        body += (f'<p class="all"><a class="button" href="{_href(base_url, relative, ZIP_QUERY)}">'
                 "Download all (zip)</a></p>")
    body += ("<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th><th></th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")
    if not entries:
        body += "<p>This collection is empty.</p>"
    return _page(title + ("/" + relative if relative else "/"), body)


def message_page(title: str, message: str) -> bytes:
    """A short page explaining why a link does not work."""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
