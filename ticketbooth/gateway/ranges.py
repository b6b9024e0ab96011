"""Pure HTTP ``Range`` handling for GetObject (RFC 9110 section 14, as S3 applies it).

One range only: a header S3 would not honour (not ``bytes=``, several ranges, bad syntax) is ignored and the
whole object is sent, as S3 does. A syntactically valid range that selects nothing is ``416 InvalidRange``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..s3.errors import S3Error
from .numbers import parse_decimal

__all__ = ["ByteRange", "parse_range"]

_RANGE = re.compile(r"bytes=(?:([0-9]+)-([0-9]*)|-([0-9]+))")  # ASCII digits; any length (saturated below)


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive of an object of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


def _unsatisfiable(size: int) -> S3Error:
    return S3Error("InvalidRange", 416, "The requested range is not satisfiable",
                   details={"ActualObjectSize": str(size)}, headers={"Content-Range": f"bytes */{size}"})


def _number(digits: str) -> int:
    # A 5,000-digit position is simply beyond any object (int() would refuse it: a 500).
    return parse_decimal(digits) or 0  # the pattern admits ASCII digits only, so never None


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range ``header`` selects of an object of ``size`` bytes; ``None`` for the whole object.

    Raises ``S3Error(InvalidRange, 416)`` when the range is valid but selects no byte.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = _number(suffix)
        if length == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(size - length, 0), size - 1, size)
    start = _number(first)
    end = _number(last) if last else size - 1
    if last and end < start:
        return None  # invalid syntax per RFC 9110: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size - 1), size)
