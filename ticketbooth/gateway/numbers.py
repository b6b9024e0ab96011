"""Pure parsing of the decimal numbers clients send (query parameters, ``Range``, XML elements).

``str.isdigit``/``int`` accept far more than S3 does: superscripts (``"²".isdigit()`` is true but ``int("²")``
fails), other scripts' digits (``int("٣") == 3``) and numbers of any length (``int`` refuses over 4,300
digits). S3 numbers are ASCII digits only, so that is all :func:`parse_decimal` admits, and it saturates at
``cap`` instead of converting an arbitrarily long string.
"""
from __future__ import annotations

__all__ = ["parse_decimal", "BIG"]

#: A value larger than any size or count the gateway deals in (2**63 - 1, S3's own long range).
BIG = 2**63 - 1
_DIGITS = frozenset("0123456789")


def parse_decimal(text: str | None, *, cap: int = BIG) -> int | None:
    """The value of ``text`` if it is one or more ASCII digits (at most ``cap``), else ``None``."""
    if not text or not _DIGITS.issuperset(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(cap)):
        return cap
    return min(int(significant), cap)
