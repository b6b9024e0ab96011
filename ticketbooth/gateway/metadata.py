"""S3 object metadata <-> HTTP headers: what PutObject/CreateMultipartUpload store, what HEAD/GET return.

Pure: header mappings in, :class:`~ticketbooth.backends.base.ObjectMetadata` out, and back. Header values
arrive as WSGI gives them (the wire bytes decoded as latin-1); metadata holds text, so UTF-8 on the wire
becomes the text it spells and goes back out as the same bytes.
"""
from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping

from ..backends.base import ObjectMetadata
from ..s3.errors import S3Error

__all__ = ["SYSTEM_HEADERS", "USER_PREFIX", "MAX_USER_METADATA", "from_headers", "to_headers", "content_type"]

#: Metadata field -> the HTTP header that carries it, in and out.
SYSTEM_HEADERS: Mapping[str, str] = {
    "content_type": "Content-Type",
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "expires": "Expires",
}
USER_PREFIX = "x-amz-meta-"
#: S3's limit on user metadata: the UTF-8 bytes of every name and value together.
MAX_USER_METADATA = 2048
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(wire: str) -> str:
    """The text a latin-1-decoded header value spells: UTF-8 when it is that, else the bytes as latin-1."""
    try:
        return wire.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return wire


def _wire(text: str) -> str:
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


def _content_encoding(value: str) -> str | None:
    # aws-chunked is the request's framing (removed by the verifier), never the object's encoding.
    codings = [c.strip() for c in value.split(",") if c.strip() and c.strip().lower() != "aws-chunked"]
    return ", ".join(codings) or None


def from_headers(headers: Mapping[str, str]) -> ObjectMetadata:
    """The metadata a write request carries; ``headers`` maps lower-case names to values.

    Raises ``S3Error(MetadataTooLarge)`` when user metadata exceeds :data:`MAX_USER_METADATA` bytes.
    """
    system: dict[str, str | None] = {}
    for field, header in SYSTEM_HEADERS.items():
        value = headers.get(header.lower())
        if value is not None:
            system[field] = _text(value.strip())
    if system.get("content_encoding") is not None:
        system["content_encoding"] = _content_encoding(system["content_encoding"] or "")
    user = {name[len(USER_PREFIX):]: _text(value.strip()) for name, value in headers.items()
            if name.startswith(USER_PREFIX) and len(name) > len(USER_PREFIX)}
    size = sum(len(name.encode("utf-8")) + len(value.encode("utf-8")) for name, value in user.items())
    if size > MAX_USER_METADATA:
        raise S3Error("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.",
                      details={"Size": str(size), "MaxSizeAllowed": str(MAX_USER_METADATA)})
    return ObjectMetadata(**system, user=dict(sorted(user.items())))  # type: ignore[arg-type]


def _safe(value: str) -> bool:
    # Metadata set from iRODS can hold anything; a control character must never split a response header.
    return _CONTROL.search(value) is None


def content_type(metadata: ObjectMetadata | None, key: str) -> str:
    """The stored type, else one guessed from the key's name (objects written outside S3), else S3's default."""
    if metadata is not None and metadata.content_type and _safe(metadata.content_type):
        return _wire(metadata.content_type)
    return mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE


def to_headers(metadata: ObjectMetadata | None) -> dict[str, str]:
    """The response headers for stored ``metadata`` (Content-Type aside: see :func:`content_type`)."""
    if metadata is None:
        return {}
    headers = {SYSTEM_HEADERS[field]: _wire(value) for field, value in metadata.system().items()
               if field != "content_type" and _safe(value)}
    headers.update({USER_PREFIX + name: _wire(value) for name, value in metadata.user.items()
                    if _TOKEN.fullmatch(name) and _safe(value)})
    return headers
