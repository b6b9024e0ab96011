"""Pure HTTP ``Range`` handling for GetObject (RFC 9110 section 14, as S3 applies it).

One range only: a header S3 would not honour (not ``bytes=``, several ranges, bad syntax) is ignored and the
whole object is sent, as S3 does. A syntactically valid range that selects nothing is ``416 InvalidRange``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..s3.errors import S3Error
from .numbers import parse_decimal

__all__ = ["ByteRange", "parse_range", "part_range"]

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


def part_range(text: str, parts: tuple[int, ...], size: int) -> tuple[ByteRange | None, int | None]:
    """What ``?partNumber=<text>`` selects of an object of ``size`` bytes written in ``parts`` (their sizes; empty
    for an object not uploaded in parts): ``(range, parts count)``.

    As S3: part N of a multipart object, with the count for ``x-amz-mp-parts-count``; part 1 of any other
    object is all of it (as a range, count ``None``; ``(None, None)`` for an empty object). Raises
    ``S3Error``: ``InvalidArgument`` (400) for a number that is not 1 to 10000, ``InvalidPartNumber`` (416)
    beyond the last part.
    """
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 10000:
        raise S3Error("InvalidArgument", 400, "Part number must be an integer between 1 and 10000, inclusive",
                      details={"ArgumentName": "partNumber", "ArgumentValue": text[:16]})
    number = int(text)
    count = len(parts) or 1
    if number > count:
        raise S3Error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable",
                      details={"PartNumberRequested": str(number), "ActualPartCount": str(count)})
    if not parts:
        return (ByteRange(0, size - 1, size) if size else None), None
    start = sum(parts[:number - 1])
    if parts[number - 1] == 0:
        return None, len(parts)  # an empty last part: nothing to range over
    return ByteRange(start, start + parts[number - 1] - 1, size), len(parts)
