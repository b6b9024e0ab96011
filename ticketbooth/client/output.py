"""What the client prints for people: ticket tables and details (pure: data in, text out)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["short_time", "table", "ticket_rows", "ticket_details", "TICKET_COLUMNS"]

TICKET_COLUMNS = ("ID", "STATUS", "ACCESS", "KIND", "USES", "EXPIRES", "PATH", "LABEL")


def short_time(value: str | None) -> str:
    """An API date-time as ``YYYY-MM-DD HH:MM`` in UTC ('never' for none)."""
    if not value:
        return "never"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.utcoffset() is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _uses(ticket: Mapping[str, Any]) -> str:
    count, limit = ticket.get("uses_count", 0), ticket.get("uses_limit", 0)
    return f"{count}/{limit}" if limit else str(count)


def _clean(value: Any) -> str:
    # One line per row, whatever a label contains.
    return " ".join(str(value).split())


def ticket_rows(tickets: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for t in tickets:
        kind = "public" if t.get("anonymous") else ("coll" if t.get("target_kind") == "collection" else "file")
        rows.append((str(t["id"]), t.get("status", ""), t.get("access", ""), kind, _uses(t),
                     short_time(t.get("expires_at")), _clean(t.get("path", "")), _clean(t.get("label") or "")))
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _names(values: Sequence[str] | None) -> str:
    return ", ".join(values) if values else "-"


def _limit(count: int, limit: int) -> str:
    return f"{count} of {limit}" if limit else f"{count} (no limit)"


def ticket_details(t: Mapping[str, Any]) -> str:
    """A ticket as ``name: value`` lines (no secret: the ticket string and keys are not shown)."""
    fields = [
        ("Ticket", str(t["id"])),
        ("Path", t.get("path", "")),
        ("Kind", t.get("target_kind", "")),
        ("Access", t.get("access", "") + (", public link" if t.get("anonymous") else "")),
        ("Status", t.get("status", "")),
        ("Owner", t.get("owner", "")),
        ("Users", _names(t.get("users"))),
        ("Groups", _names(t.get("groups"))),
        ("Hosts", _names(t.get("hosts"))),
        ("Uses", _limit(t.get("uses_count", 0), t.get("uses_limit", 0))),
    ]
    if t.get("access") == "write":
        fields += [("Files written", _limit(t.get("write_file_count", 0), t.get("write_file_limit", 0))),
                   ("Bytes written", _limit(t.get("write_byte_count", 0), t.get("write_byte_limit", 0)))]
    fields += [
        ("Expires", short_time(t.get("expires_at"))),
        ("Created", short_time(t.get("created_at"))),
        ("Label", _clean(t.get("label") or "-")),
        ("S3 bucket", (t.get("s3") or {}).get("bucket", "")),
        ("S3 endpoint", (t.get("s3") or {}).get("endpoint_url", "")),
    ]
    public = (t.get("links") or {}).get("public")
    if public:
        fields.append(("Public link", public))
    if (t.get("s3") or {}).get("public_bucket"):  # anonymous tickets: unsigned S3 reads of this bucket
        fields.append(("Public bucket", t["s3"]["public_bucket"]))
    width = max(len(name) for name, _ in fields) + 1
    return "".join(f"{(name + ':').ljust(width)} {value}\n" for name, value in fields)
