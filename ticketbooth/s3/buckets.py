"""Public bucket names: an anonymous ticket's data as an S3 bucket that unsigned requests may read.

The name is the ticket string itself, encoded into what every S3 client accepts as a bucket name (lower-case
RFC 4648 base32 without padding, after ``pub-``), so knowing the bucket is knowing the ticket string — the same
capability as its ``/_t/<ticket string>/`` link, and never derivable from the guessable ticket id. Pure: no I/O.
"""
from __future__ import annotations

import base64
import re

__all__ = ["PUBLIC_PREFIX", "public_bucket", "public_ticket_string"]

PUBLIC_PREFIX = "pub-"
_NAME = re.compile(r"pub-[a-z2-7]{8,59}")


def public_bucket(ticket_string: str) -> str:
    """The public bucket of the anonymous ticket whose string is ``ticket_string``."""
    encoded = base64.b32encode(ticket_string.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return PUBLIC_PREFIX + encoded


def public_ticket_string(bucket: str | None) -> str | None:
    """The ticket string a public bucket name carries, or ``None`` when ``bucket`` is not one (only the
    canonical spelling :func:`public_bucket` makes is accepted)."""
    if bucket is None or not _NAME.fullmatch(bucket):
        return None
    encoded = bucket[len(PUBLIC_PREFIX):].upper()
    try:
        string = base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return string if public_bucket(string) == bucket else None
