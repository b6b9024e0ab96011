"""The request query, split once and shared: routing reads its decoded names and values, SigV4
signs its canonical form, SigV2 picks its sub-resources from the decoded names.

``+`` stands for a space, as AWS S3 and MinIO read it (form encoding: Go's ``url.Values`` and
rclone's SigV2 listings send ``prefix=a+b`` for ``a b``); a literal plus is ``%2B``. The
canonical form follows the same reading (``+`` signs as ``%20``, as MinIO canonicalizes), so the
signature covers what is routed. Empty segments (``a&&b``) are skipped; a segment without ``=``
has the value ``b""``. Names are decided on their *decoded*
form everywhere, so ``upload%73`` is ``uploads`` to the router and to both signature versions
alike (issue 9 item 5: a name compared undecoded by the verifier but routed decoded let
unsigned sub-resources ride on a SigV2 URL).
"""
from __future__ import annotations

import re

from .canonical import escapes_canonical, percent_decode, uri_encode, wire_bytes

__all__ = ["Query"]

# A component that is already in SigV4 canonical form: unreserved characters and upper-case
# %XX escapes of bytes that are not unreserved (an escaped "A" or "~" must be re-encoded bare).
# Possessive: with backtracking, a run of unreserved characters before a non-canonical escape
# ("aaaa…a%2f") took time exponential in the run's length (30 bytes: minutes) on unauthenticated input.
_CANONICAL = re.compile(
    rb"(?:[A-Za-z0-9\-._~]++|%(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F]))*+"
)


# The whole-query test for that case, cheap enough to run on every request (C-level passes, no
# per-character regex): deleting the canonical characters from the query must leave only its
# separators, one '=' per segment ("=&=&=": every segment a name=value pair, none empty) or
# nothing (one bare name); the escapes are checked apart, only when there is a '%'.
_CANONICAL_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"
_PAIR_MARKS = b"=&" * 1024 + b"="  # the separators of up to 1025 name=value pairs
_EQUALS_TO_NUL = bytes.maketrans(b"=", b"\0")
_NUL_TO_EQUALS = bytes.maketrans(b"\0", b"=")
# Every byte but the four that shape the names and pairs: '&', '=', '%', '+'. What remains of a
# query ("marks", e.g. b"=&=%%&=") tells in C whether a name holds '%'/'+' (a segment's marks
# start with one).
_NOT_MARKS = bytes(b for b in range(256) if b not in b"&=%+")
_PERCENT, _PLUS, _EQUALS = ord("%"), ord("+"), ord("=")  # `int in bytes` is a byte test; `bytes in bytes` costs an exception in C


def _decode(raw: bytes) -> bytes:
    return percent_decode(raw.replace(b"+", b" ") if _PLUS in raw else raw)


def _canonical_component(raw: bytes) -> str:
    if _CANONICAL.fullmatch(raw):
        return raw.decode("ascii")
    return uri_encode(_decode(raw))


class Query:
    """A raw query string split into ``(raw name, raw value)`` parts once, decoded on demand.

    Build with :meth:`parse`. ``parts`` keep the raw value ``None`` for a segment without ``=``
    (SigV2 signs ``?acl`` and ``?acl=`` differently); ``pairs`` are the decoded ``(name, value)``
    byte pairs in order (``b""`` for both).

    Raises (from ``pairs``/``names``/``canonical``): InvalidURI for malformed percent-encoding.
    """

    __slots__ = ("raw", "_canonical", "_segments", "_parts", "_pairs")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._canonical: bool | None = None
        self._segments: list[bytes] | None = None
        self._parts: list[tuple[bytes, bytes | None]] | None = None
        self._pairs: list[tuple[bytes, bytes]] | None = None

    @property
    def segments(self) -> list[bytes]:
        """The raw ``name[=value]`` segments, empty ones skipped."""
        segments = self._segments
        if segments is None:
            segments = self._segments = [part for part in self.raw.split(b"&") if part] if self.raw else []
        return segments

    @property
    def parts(self) -> list[tuple[bytes, bytes | None]]:
        """``(raw name, raw value)``; the value is None for a segment without ``=``."""
        parts = self._parts
        if parts is None:
            parts = self._parts = []
            for segment in self.segments:
                name, sep, value = segment.partition(b"=")
                parts.append((name, value if sep else None))
        return parts

    @classmethod
    def parse(cls, query_string: str | bytes | Query) -> Query:
        """``query_string`` as received (with or without a leading ``?``); a Query is returned as is."""
        if isinstance(query_string, Query):
            return query_string
        data = wire_bytes(query_string)
        if data[:1] == b"?":
            data = data[1:]
        return cls(data)

    def __bool__(self) -> bool:
        return bool(self.segments)

    @property
    def pairs(self) -> list[tuple[bytes, bytes]]:
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = [
                (_decode(name), _decode(value) if value else b"") for name, value in self.parts
            ]
        return pairs

    def is_canonical(self) -> bool:
        """Whether the raw query is already in canonical form, component by component: every
        segment a ``name=value`` (or the whole query one bare ``name``) of unreserved characters
        and upper-case escapes of other bytes (no ``+``, no empty segment). Its names then need no
        decoding to be compared with an unreserved name such as ``X-Amz-Signature``: an escape
        never decodes to one."""
        canonical = self._canonical
        if canonical is None:
            raw = self.raw
            marks = raw.translate(None, _CANONICAL_CHARS)
            canonical = self._canonical = bool(raw) and (not marks or (
                len(marks) & 1 == 1 and _PAIR_MARKS.startswith(marks))) and (
                _PERCENT not in raw or escapes_canonical(raw))
        return canonical

    def names_encoded(self) -> bool:
        """Whether some name holds ``%`` or ``+`` (and so differs from its decoded form)."""
        marks = self.raw.translate(None, _NOT_MARKS)
        return marks[:1] in (b"%", b"+") or marks.find(b"&%") >= 0 or marks.find(b"&+") >= 0

    def names(self) -> set[bytes]:
        """The decoded parameter names (values are not decoded for this)."""
        if self._pairs is not None:
            return {name for name, _ in self._pairs}
        names = {segment.partition(b"=")[0] for segment in self.segments}
        if self.names_encoded():
            names = {_decode(name) for name in names}
        return names

    def values(self) -> dict[bytes, list[bytes]]:
        """Decoded name -> every decoded value, in order."""
        grouped: dict[bytes, list[bytes]] = {}
        for name, value in self.pairs:
            grouped.setdefault(name, []).append(value)
        return grouped

    def canonical(self, exclude: bytes | None = None) -> str:
        """The SigV4 canonical query string: pairs encoded once, sorted by name then value.

        A query already in canonical form (:meth:`is_canonical`) is only sorted; otherwise
        components already canonical are taken as they are (one regex test each), only the
        others are decoded and re-encoded. ``exclude`` is a decoded name to leave out
        (``X-Amz-Signature`` of presigned URLs).
        """
        skip = uri_encode(exclude).encode("ascii") if exclude is not None else None
        if self.is_canonical():
            # The usual case: every component already canonical. With '=' read as NUL (below
            # every canonical character) the segments sort as their (name, value) pairs do.
            raw = self.raw
            if _EQUALS not in raw:  # one bare name ("?uploads"): "name=" in canonical form
                return "" if raw == skip else raw.decode("ascii") + "="
            segments = raw.translate(_EQUALS_TO_NUL).split(b"&")
            if skip is not None:
                segments = [s for s in segments if s.partition(b"\0")[0] != skip]
            segments.sort()
            return b"&".join(segments).translate(_NUL_TO_EQUALS).decode("ascii")
        encoded = []
        for name, value in self.parts:
            text = _canonical_component(name)
            if skip is not None and text == skip.decode("ascii"):
                continue
            encoded.append((text, _canonical_component(value) if value else ""))
        encoded.sort()
        return "&".join([f"{name}={value}" for name, value in encoded])
