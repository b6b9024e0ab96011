"""The original S3 request an external gateway asks about, rebuilt from its JSON body or forwarded headers.

Two input forms (no web framework here: the view hands in plain values):

* JSON (Envoy ext_authz, custom front ends): ``{method, uri, headers, payload_sha256?, client_ip?}``, with
  ``uri`` the raw request target (path and query, percent-encoding untouched) and ``headers`` a list of
  ``[name, value]`` pairs or a mapping of name to a value or a list of values;
* forwarded headers (nginx ``auth_request``, whose subrequest cannot carry a body): ``X-Original-Method``,
  ``X-Original-URI`` and ``X-Real-IP``, with the original request's own headers passed through as they are.

Both yield the gateway's :class:`~ticketbooth.s3.access.RequestParts`, so the decision is made by the very
same code path the reference gateway uses. The body is never seen: a literal ``x-amz-content-sha256`` is
checked against ``payload_sha256`` when the caller has it; otherwise the caller must check the payload.
"""
from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ....errors import InvalidRequest
from ....s3.access import RequestParts
from ....s3.errors import S3Error
from ....sigv4.errors import XAmzContentSHA256Mismatch

__all__ = ["MAX_URI_BYTES", "MAX_HEADERS", "CONTROL_HEADERS", "OriginalRequest", "from_json", "from_forwarded"]

MAX_URI_BYTES = 16384
MAX_HEADERS = 200

#: Headers of the forwarded form that describe the original request or authenticate the gateway: they are
#: taken out before the original headers are judged.
CONTROL_HEADERS = frozenset({
    "x-original-method", "x-original-uri", "x-original-content-length", "x-real-ip",
    "x-ticketbooth-gateway-secret", "content-length",
})

_METHOD = re.compile(r"[A-Za-z]{1,16}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class OriginalRequest:
    """The request to decide on: the gateway's ``RequestParts`` (empty body) and the caller's payload hash."""

    parts: RequestParts
    payload_sha256: str | None = None

    def check_payload_hash(self) -> None:
        """Raise ``XAmzContentSHA256Mismatch`` when a literal ``x-amz-content-sha256`` differs from the hash
        the caller computed over the body (the verifier never sees the body here).

        A ``STREAMING-*`` (aws-chunked) payload is refused with ``501 NotImplemented`` before anything is
        counted (issue 9 item 11): completing it safely needs what a decision cannot hand out — the signing key
        (each chunk's signature chains from the request's) and the ticket's write budget, judged while the body
        streams. Such uploads go to ``ticketbooth gateway``, which verifies both itself.
        """
        claimed = self.parts.header("x-amz-content-sha256")
        if claimed is not None and claimed.strip().upper().startswith("STREAMING-"):
            raise S3Error("NotImplemented", 501, "Streaming (aws-chunked) uploads cannot be authorized here: "
                          "verifying their chunk signatures needs the signing key and the ticket's write limits "
                          "must be enforced while the body streams. Send uploads to the TicketBooth S3 gateway.",
                          details={"PayloadMode": claimed.strip()[:64]})
        if self.payload_sha256 is None or claimed is None or not _SHA256.fullmatch(claimed.strip()):
            return
        if not hmac.compare_digest(claimed.strip(), self.payload_sha256):
            raise XAmzContentSHA256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=claimed.strip(), S3ComputedContentSHA256=self.payload_sha256,
            )


def _field_error(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, details={"field": name})


def _method(value: str, field: str) -> str:
    if not _METHOD.fullmatch(value):
        raise _field_error(field, "method must be an HTTP method name such as GET or PUT")
    return value


def _split_uri(uri: str, field: str) -> tuple[str, str]:
    if len(uri.encode("utf-8", "surrogatepass")) > MAX_URI_BYTES:
        raise _field_error(field, f"uri must be at most {MAX_URI_BYTES} bytes")
    if not uri.startswith("/") or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in uri):
        raise _field_error(field, "uri must be the raw request target: '/path?query' without spaces or controls")
    path, _, query = uri.partition("?")
    return path, query


def _client_ip(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _field_error(field, "client_ip must be an IP address") from None


def _header_pairs(headers: object) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            values = value if isinstance(value, list | tuple) else [value]
            pairs.extend((name, item) for item in values)
    elif isinstance(headers, list | tuple):
        for item in headers:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise _field_error("headers", "headers must be [name, value] pairs or a mapping")
            pairs.append((item[0], item[1]))
    else:
        raise _field_error("headers", "headers must be [name, value] pairs or a mapping")
    if len(pairs) > MAX_HEADERS:
        raise _field_error("headers", f"at most {MAX_HEADERS} headers")
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str) or not _HEADER_NAME.fullmatch(name):
            raise _field_error("headers", "header names must be HTTP tokens and values strings")
        if any(ord(ch) < 0x20 and ch != "\t" for ch in value):
            raise _field_error("headers", "header values must not contain control characters")
    return [(name, _wire(value)) for name, value in pairs]


def _wire(value: str) -> str:
    # JSON carries text; the verifier takes header values as latin-1-decoded wire bytes (the WSGI convention),
    # so UTF-8 text becomes the bytes the client really sent.
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")


def from_json(data: Mapping[str, object]) -> OriginalRequest:
    """Build from the JSON form (already shape-checked by the schema). Raises ``InvalidRequest``."""
    path, query = _split_uri(str(data["uri"]), "uri")
    digest = data.get("payload_sha256")
    if digest is not None and not _SHA256.fullmatch(str(digest)):
        raise _field_error("payload_sha256", "payload_sha256 must be 64 lower-case hex digits")
    parts = RequestParts(
        method=_method(str(data["method"]), "method"),
        raw_path=path,
        query_string=query,
        headers=tuple(_header_pairs(data.get("headers", []))),
        body=b"",
        remote_addr=_client_ip(data.get("client_ip"), "client_ip"),  # type: ignore[arg-type]
    )
    return OriginalRequest(parts, None if digest is None else str(digest))


def from_forwarded(headers: Iterable[tuple[str, str]]) -> OriginalRequest:
    """Build from nginx ``auth_request`` headers (see the module docstring). Raises ``InvalidRequest``."""
    received = list(headers)

    def first(name: str) -> str | None:
        return next((value for key, value in received if key.lower() == name), None)

    uri = first("x-original-uri")
    method = first("x-original-method")
    if uri is None or method is None:
        raise InvalidRequest("send the JSON form, or X-Original-Method and X-Original-URI headers")
    original = [(name, value) for name, value in received if name.lower() not in CONTROL_HEADERS]
    length = first("x-original-content-length")
    if length:
        original.append(("Content-Length", length))
    path, query = _split_uri(uri, "X-Original-URI")
    parts = RequestParts(
        method=_method(method, "X-Original-Method"),
        raw_path=path,
        query_string=query,
        headers=tuple(original),
        body=b"",
        remote_addr=_client_ip(first("x-real-ip"), "X-Real-IP"),
    )
    return OriginalRequest(parts)
