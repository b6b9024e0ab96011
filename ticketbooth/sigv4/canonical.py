"""Pure S3 SigV4 canonicalization: path, query, headers, canonical request, string to sign.

S3 rules (which differ from the generic SigV4 service rules): the path is percent-decoded and
re-encoded exactly once, never normalized (``//``, ``.`` and ``..`` segments are kept as sent);
query parameters are decoded (see :mod:`.query`), re-encoded and sorted by name then value, a
parameter without ``=`` canonicalizes as ``name=``; header names are lower-cased, values trimmed with inner runs of
whitespace collapsed to one space, repeated headers joined with ``,``.

Text received from a WSGI server is latin-1 decoded wire bytes; :func:`wire_bytes` turns it back
into the bytes the client signed.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

from .errors import InvalidURI

__all__ = [
    "HeaderInput",
    "HeaderMap",
    "collect_headers",
    "wire_bytes",
    "uri_encode",
    "escapes_canonical",
    "percent_decode",
    "canonical_uri",
    "parse_query",
    "canonical_query",
    "canonical_header_value",
    "canonical_headers",
    "canonical_request",
    "string_to_sign",
    "EMPTY_SHA256",
]

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]
HeaderMap = dict[str, list[str]]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# SigV4 "UriEncode": the bytes to escape, and each one's canonical escape.
_NEEDS_ESCAPE = re.compile(rb"[^A-Za-z0-9\-._~]")
_NEEDS_ESCAPE_PATH = re.compile(rb"[^A-Za-z0-9\-._~/]")
_ESCAPES = tuple(b"%%%02X" % b for b in range(256))
# A "%" that is not an upper-case escape, or an escape of an unreserved byte (- . 0-9 A-Z _ a-z ~).
_NOT_CANONICAL_ESCAPE = re.compile(rb"%(?:(?![0-9A-F]{2})|2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])")
_NOT_CANONICAL_PATH_ESCAPE = re.compile(
    rb"%(?:(?![0-9A-F]{2})|2[DEF]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])")
# A path that may already be canonical: canonical characters, escapes checked apart.
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~/%]*")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]+")
# `int in bytes` tests for one byte; `bytes in bytes` first tries the needle as an int, and the
# TypeError it raises and clears costs more than the search itself.
_PERCENT = ord("%")
_BLANKS = " \t"


def wire_bytes(text: str | bytes) -> bytes:
    """The bytes a client sent for ``text``: latin-1 (WSGI convention), UTF-8 beyond U+00FF."""
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def collect_headers(headers: HeaderInput) -> HeaderMap:
    """Group headers by lower-cased name, keeping every value in arrival order.

    Accepts a mapping (one value per name, or a multi-dict whose ``items()`` yields repeats) or
    a sequence of ``(name, value)`` pairs; names and values may be ``str`` or ``bytes``.
    """
    # A list (what the gateway passes) first: hasattr() on one raises and clears an AttributeError.
    pairs = headers if type(headers) is list else headers.items() if hasattr(headers, "items") else headers
    grouped: HeaderMap = {}
    for name, value in pairs:
        # Exact-type checks first: this loop runs for every header of every request.
        if type(name) is not str and not isinstance(name, str):
            name = name.decode("latin-1")
        if type(value) is not str and not isinstance(value, str):
            value = value.decode("latin-1")
        key = name.lower()
        found = grouped.get(key)
        if found is None:
            grouped[key] = [value]
        else:
            found.append(value)
    return grouped


def uri_encode(data: bytes, *, keep_slash: bool = False) -> str:
    """SigV4 UriEncode: every byte but the unreserved set as ``%XX`` (upper-case hex)."""
    return (_NEEDS_ESCAPE_PATH if keep_slash else _NEEDS_ESCAPE).sub(_escape, data).decode("ascii")


def _escape(match: re.Match[bytes]) -> bytes:
    return _ESCAPES[match[0][0]]


def escapes_canonical(data: bytes, *, path: bool = False) -> bool:
    """Whether every ``%`` in ``data`` starts an upper-case escape of a byte that is not unreserved
    (the only escapes SigV4's canonical form has: ``%2F`` yes, ``%2f`` and ``%41`` no). In a
    ``path`` an escaped ``/`` is not canonical either: decoded once and re-encoded it is ``/``."""
    if _PERCENT not in data:
        return True
    return (_NOT_CANONICAL_PATH_ESCAPE if path else _NOT_CANONICAL_ESCAPE).search(data) is None


def percent_decode(data: bytes) -> bytes:
    """Decode ``%XX`` escapes; any other byte stands for itself.

    Raises:
        InvalidURI: a ``%`` not followed by two hex digits.
    """
    if _PERCENT not in data:
        return data
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        j = data.find(b"%", i)
        if j < 0:
            out += data[i:]
            break
        out += data[i:j]
        if j + 2 >= n or data[j + 1] not in _HEX or data[j + 2] not in _HEX:
            raise InvalidURI("malformed percent-encoding in the request URI")
        out.append(int(data[j + 1 : j + 3], 16))
        i = j + 3
    return bytes(out)


def canonical_uri(raw_path: str | bytes) -> str:
    """The S3 canonical URI of ``raw_path`` (as received, percent-encoding untouched).

    Decoded once and re-encoded once; no normalization. An empty path is ``/``.

    Raises:
        InvalidURI: malformed percent-encoding, or a path that does not start with ``/``.
    """
    if isinstance(raw_path, str) and _PATH_CHARS.fullmatch(raw_path):
        if not raw_path:
            return "/"
        if raw_path[0] != "/":
            raise InvalidURI("the request path must start with '/'")
        if "%" not in raw_path or escapes_canonical(raw_path.encode("ascii"), path=True):
            return raw_path
    data = wire_bytes(raw_path)
    if not data:
        return "/"
    if data[:1] != b"/":
        raise InvalidURI("the request path must start with '/'")
    return uri_encode(percent_decode(data), keep_slash=True)


def parse_query(query_string: str | bytes) -> list[tuple[bytes, bytes]]:
    """Split a raw query string into decoded ``(name, value)`` byte pairs, in order
    (:class:`~.query.Query` rules: ``+`` is a space, ``%2B`` a plus).

    Raises:
        InvalidURI: malformed percent-encoding.
    """
    from .query import Query

    return Query.parse(query_string).pairs


def canonical_query(pairs: Sequence[tuple[bytes, bytes]], *, exclude: bytes | None = None) -> str:
    """The canonical query string: encoded pairs sorted by name then value, ``&``-joined.

    ``exclude`` names one parameter to leave out (``X-Amz-Signature`` for presigned URLs).
    """
    encoded = sorted(
        (uri_encode(name), uri_encode(value)) for name, value in pairs if name != exclude
    )
    return "&".join([f"{name}={value}" for name, value in encoded])


def canonical_header_value(values: Sequence[str]) -> str:
    """Trim each value, collapse inner whitespace runs (folded lines too), join repeats with ``,``."""
    if len(values) == 1:
        value = values[0]
        if "  " not in value and "\t" not in value and "\n" not in value and "\r" not in value:
            return value.strip(" \t")
    return ",".join([_WHITESPACE_RUN.sub(" ", value).strip(" ") for value in values])


def canonical_headers(headers: HeaderMap, signed: Sequence[str]) -> str:
    """``name:value\n`` for every signed header, in the (sorted) order given.

    Raises:
        KeyError: a name in ``signed`` is not in ``headers`` (the verifier checks that first).
    """
    lines = []
    for name in signed:
        values = headers[name]
        value = values[0]
        if len(values) == 1 and "  " not in value and "\t" not in value and "\n" not in value and "\r" not in value:
            lines.append(f"{name}:{value.strip(_BLANKS)}\n")  # the usual single, plain value, inlined
        else:
            lines.append(f"{name}:{canonical_header_value(values)}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed_headers: str,
    payload_hash: str,
) -> bytes:
    """SigV4 step 1: the canonical request, as the bytes that are hashed."""
    text = "\n".join((method, uri, query, headers_block, signed_headers, payload_hash))
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return wire_bytes(text)


def string_to_sign(amz_date: str, scope: str, canonical: bytes) -> bytes:
    """SigV4 step 2: the string to sign for a request."""
    digest = hashlib.sha256(canonical).hexdigest()
    return f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}".encode("ascii")
