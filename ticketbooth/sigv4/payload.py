"""How the body is bound to the signature: payload modes from ``x-amz-content-sha256`` and
construction of the verifying body stream for each mode."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from .canonical import EMPTY_SHA256, HeaderMap
from .checksums import CHECKSUM_ALGORITHMS
from .errors import (
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
)
from .streaming import MAX_CHUNK_SIZE, AwsChunkedBody, BodySource, PlainBody, VerifiedBody

__all__ = [
    "UNSIGNED_PAYLOAD",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "STREAMING_MODES",
    "payload_mode",
    "content_length",
    "stored_content_encoding",
    "build_body",
    "buffer_body",
    "MAX_UNANNOUNCED_BODY",
]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")
#: The largest body accepted without x-amz-content-sha256 (it is held in memory to be hashed).
MAX_UNANNOUNCED_BODY = MAX_CHUNK_SIZE


def payload_mode(value: str) -> str:
    """Classify an ``x-amz-content-sha256`` value: "SHA256" for a literal hash, else the token.

    Raises:
        InvalidArgument: anything else (SigV4a streaming modes are not supported).
    """
    # The hash of the empty body, which every SDK sends for GET, HEAD and DELETE, is a literal hash.
    if value == EMPTY_SHA256 or _SHA256_HEX.fullmatch(value):
        return "SHA256"
    if value == UNSIGNED_PAYLOAD or value in STREAMING_MODES:
        return value
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a supported STREAMING-* value or a lower-case SHA-256",
        ArgumentName="x-amz-content-sha256",
    )


def _single(headers: HeaderMap, name: str) -> str | None:
    values = headers.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise InvalidArgument(f"the {name} header is repeated")
    return values[0].strip()


def content_length(headers: HeaderMap) -> int | None:
    """The Content-Length header as an int (None when absent).

    Raises:
        InvalidArgument: repeated or not a decimal number.
    """
    value = _single(headers, "content-length")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise InvalidArgument("Content-Length must be a decimal number", ArgumentName="Content-Length")
    return int(value)


def stored_content_encoding(headers: HeaderMap) -> str | None:
    """Content-Encoding without the transport-only ``aws-chunked`` token (None if empty)."""
    values = headers.get("content-encoding")
    if not values:
        return None
    tokens = [t.strip() for v in values for t in v.split(",")]
    kept = [t for t in tokens if t and t.lower() != "aws-chunked"]
    return ",".join(kept) or None


def _trailer_algorithm(headers: HeaderMap, mode: str) -> str | None:
    value = _single(headers, "x-amz-trailer")
    if mode not in (STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        if value is not None:
            raise InvalidRequest(f"x-amz-trailer is not allowed with x-amz-content-sha256 {mode}")
        return None
    if value is None:
        raise InvalidRequest(f"x-amz-content-sha256 {mode} requires an x-amz-trailer header")
    name = value.lower()
    algorithm = name[len("x-amz-checksum-") :].upper() if name.startswith("x-amz-checksum-") else ""
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidRequest("The value specified in the x-amz-trailer header is not supported")
    return algorithm


def build_body(
    mode: str,
    headers: HeaderMap,
    body: Any,
    *,
    signing_key: bytes | None = None,
    amz_date: str = "",
    scope: str = "",
    seed_signature: str = "",
    expected_sha256: str | None = None,
) -> tuple[VerifiedBody, int | None, str | None]:
    """The verifying stream for ``mode``, the decoded length if known, the trailer algorithm.

    Raises:
        MissingContentLength: aws-chunked without x-amz-decoded-content-length.
        InvalidArgument / InvalidRequest: malformed length or trailer headers.
    """
    length = content_length(headers)
    if mode in STREAMING_MODES:
        decoded = _single(headers, "x-amz-decoded-content-length")
        if decoded is None:
            raise MissingContentLength("aws-chunked uploads need an x-amz-decoded-content-length header")
        if not _DIGITS.fullmatch(decoded):
            raise InvalidArgument("x-amz-decoded-content-length must be a decimal number")
        algorithm = _trailer_algorithm(headers, mode)
        stream = AwsChunkedBody(
            BodySource(body, length),
            decoded_length=int(decoded),
            signing_key=None if mode == STREAMING_UNSIGNED_TRAILER else signing_key,
            amz_date=amz_date,
            scope=scope,
            seed_signature=seed_signature,
            trailer_algorithm=algorithm,
            signed_trailer=mode == STREAMING_SIGNED_TRAILER,
        )
        return stream, int(decoded), algorithm
    if headers.get("x-amz-trailer") is not None:
        raise InvalidRequest(f"x-amz-trailer is not allowed with x-amz-content-sha256 {mode}")
    source = BodySource(body, length)
    known = length if length is not None else source.remaining
    return PlainBody(source, expected_sha256), known, None


def buffer_body(body: Any, headers: HeaderMap) -> tuple[bytes, str]:
    """Read a whole (small) body to hash it, for requests that sign the body's hash without
    announcing it in ``x-amz-content-sha256``.

    At most MAX_UNANNOUNCED_BODY bytes are held (the body is read before the signature is
    checked, so an unauthenticated sender must not make the server hold more).

    Raises:
        IncompleteBody: shorter than Content-Length.
        InvalidArgument: larger than MAX_UNANNOUNCED_BODY (send x-amz-content-sha256 to stream).
    """
    length = content_length(headers)
    if length is not None and length > MAX_UNANNOUNCED_BODY:
        raise _too_large()
    source = BodySource(body, length)
    data = bytearray()
    while True:
        piece = source.read(1024 * 1024)
        if not piece:
            break
        data += piece
        if len(data) > MAX_UNANNOUNCED_BODY:
            raise _too_large()
    if source.remaining:
        raise IncompleteBody("the body is shorter than its Content-Length")
    return bytes(data), hashlib.sha256(data).hexdigest()


def _too_large() -> InvalidArgument:
    return InvalidArgument(
        f"a body signed without x-amz-content-sha256 may hold at most {MAX_UNANNOUNCED_BODY} bytes; "
        "send x-amz-content-sha256 (e.g. UNSIGNED-PAYLOAD) to stream larger bodies",
        ArgumentName="x-amz-content-sha256",
    )
