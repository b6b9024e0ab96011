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

from .canonical import percent_decode, uri_encode, wire_bytes

__all__ = ["Query"]

# A component that is already in SigV4 canonical form: unreserved characters and upper-case
# %XX escapes of bytes that are not unreserved (an escaped "A" or "~" must be re-encoded bare).
_CANONICAL = re.compile(
    rb"(?:[A-Za-z0-9\-._~]+|%(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F]))*"
)


def _decode(raw: bytes) -> bytes:
    return percent_decode(raw.replace(b"+", b" ") if b"+" in raw else raw)


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

    __slots__ = ("raw", "parts", "_pairs")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        parts = []
        if raw:
            for part in raw.split(b"&"):
                if part:
                    name, sep, value = part.partition(b"=")
                    parts.append((name, value if sep else None))
        self.parts: list[tuple[bytes, bytes | None]] = parts
        self._pairs: list[tuple[bytes, bytes]] | None = None

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
        return bool(self.parts)

    @property
    def pairs(self) -> list[tuple[bytes, bytes]]:
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = [
                (_decode(name), _decode(value) if value else b"") for name, value in self.parts
            ]
        return pairs

    def names(self) -> set[bytes]:
        """The decoded parameter names."""
        return {name for name, _ in self.pairs}

    def values(self) -> dict[bytes, list[bytes]]:
        """Decoded name -> every decoded value, in order."""
        grouped: dict[bytes, list[bytes]] = {}
        for name, value in self.pairs:
            grouped.setdefault(name, []).append(value)
        return grouped

    def canonical(self, exclude: bytes | None = None) -> str:
        """The SigV4 canonical query string: pairs encoded once, sorted by name then value.

        Components already in canonical form are taken as they are (one regex test each); only
        the others are decoded and re-encoded. ``exclude`` is a decoded name to leave out
        (``X-Amz-Signature`` of presigned URLs).
        """
        skip = uri_encode(exclude) if exclude is not None else None
        encoded = []
        for name, value in self.parts:
            text = _canonical_component(name)
            if text == skip:
                continue
            encoded.append((text, _canonical_component(value) if value else ""))
        encoded.sort()
        return "&".join([f"{name}={value}" for name, value in encoded])
