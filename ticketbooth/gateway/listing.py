"""Pure ListObjects pagination: keys in S3 order in, one page (contents, common prefixes, truncation) out.

Keys compare as UTF-8 bytes, as S3 orders them. A marker (V1 ``marker``, V2 ``start-after`` or the key a
continuation token carries) excludes every key up to and including it; when the marker is a common prefix,
every key under that prefix is excluded too, so a page never repeats a prefix.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..s3.errors import S3Error
from .numbers import parse_decimal

__all__ = ["Page", "paginate", "encode_token", "decode_token", "parse_max_keys"]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """``contents`` as (key, item) pairs, ``common_prefixes``, and ``last`` (the last key or prefix shown)."""

    contents: list[tuple[str, T]] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    last: str | None = None


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def paginate(entries: Iterable[tuple[str, T]], *, prefix: str = "", delimiter: str | None = None,
             marker: str | None = None, max_keys: int = 1000) -> Page[T]:
    """One page of ``entries`` (``(key, item)`` in ascending key order).

    An entry whose key ends with ``delimiter`` and has ``is_collection`` set stands for a sub-collection
    (seen in a non-recursive listing): it only ever contributes a common prefix. A collection entry the
    delimiter does not cut (a recursive listing's empty collection, ``dir/``) is listed as a folder marker.
    """
    contents: list[tuple[str, T]] = []
    prefixes: list[str] = []
    last: str | None = None
    if max_keys <= 0:
        return Page()
    marker_b = _b(marker) if marker else None
    for key, item in entries:
        key_b = _b(key)
        if (marker_b is not None and key_b <= marker_b) or not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + len(delimiter or "")]
            if (prefixes and prefixes[-1] == common) or (marker_b is not None and _b(common) <= marker_b):
                continue
            if len(contents) + len(prefixes) == max_keys:
                return Page(contents, prefixes, True, last)
            prefixes.append(common)
            last = common
        else:
            if len(contents) + len(prefixes) == max_keys:
                return Page(contents, prefixes, True, last)
            contents.append((key, item))
            last = key
    return Page(contents, prefixes, False, last)


def encode_token(key: str) -> str:
    """An opaque continuation token carrying the last key of a page."""
    return base64.urlsafe_b64encode(b"k1:" + _b(key)).decode("ascii").rstrip("=")


def decode_token(token: str) -> str:
    """The key a continuation token carries; ``InvalidArgument`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        if not raw.startswith(b"k1:"):
            raise ValueError
        return raw[3:].decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise S3Error("InvalidArgument", 400, "The continuation token provided is incorrect",
                      details={"ArgumentName": "continuation-token"}) from None


def parse_max_keys(value: str | None, name: str = "max-keys", *, limit: int = 1000) -> int:
    """``max-keys``-like parameters: a non-negative integer, capped at ``limit`` (S3 caps at 1000)."""
    if value is None or value == "":
        return limit
    number = parse_decimal(value, cap=limit)  # ASCII digits only ("²" is not a number), saturating
    if number is None:
        raise S3Error("InvalidArgument", 400, f"Provided {name} not an integer or within integer range",
                      details={"ArgumentName": name, "ArgumentValue": value[:64]})
    return number
