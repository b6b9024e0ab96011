"""Pure evaluation of conditional request headers (RFC 9110 section 13.2.2, as S3 applies them).

Order: ``If-Match`` (else ``If-Unmodified-Since``) can fail with 412; then ``If-None-Match`` (else
``If-Modified-Since``, GET/HEAD only) yields 304 for GET/HEAD, 412 otherwise. Unparseable dates are ignored.
Times compare at whole seconds, the precision of ``Last-Modified``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

__all__ = ["evaluate", "http_date", "etag_matches"]


def http_date(when: datetime) -> str:
    """RFC 7231 IMF-fixdate, e.g. ``Wed, 21 Oct 2015 07:28:00 GMT``."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def etag_matches(header: str, etag: str | None) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list names ``etag`` (unquoted, as ``ObjectInfo.etag``: an MD5,
    a multipart or a provisional ETag); ``*`` matches any object, also one a backend reports no ETag for
    (``etag`` ``None``)."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if etag is None:
            continue
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"') == etag:
            return True
    return False


def evaluate(headers: Mapping[str, str], etag: str | None, last_modified: datetime | None, *, method: str) -> int | None:
    """``None`` to proceed, ``304`` (Not Modified) or ``412`` (Precondition Failed).

    ``headers`` maps lower-case header names to values.
    """
    safe = method.upper() in ("GET", "HEAD")
    modified = last_modified.replace(microsecond=0) if last_modified is not None else None
    if_match = headers.get("if-match")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            return 412
    else:
        since = _parse_date(headers.get("if-unmodified-since"))
        if since is not None and modified is not None and modified > since:
            return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            return 304 if safe else 412
    elif safe:
        since = _parse_date(headers.get("if-modified-since"))
        if since is not None and modified is not None and modified <= since:
            return 304
    return None
