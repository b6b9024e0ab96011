"""SigV2 (HMAC-SHA1) verification: ``Authorization: AWS key:signature`` and query
``AWSAccessKeyId``/``Signature``/``Expires`` (what boto3 and aws cli v1 presign by default).

SigV2 does not cover the body: a gateway checks ``Content-MD5`` with
:func:`ticketbooth.sigv4.with_content_checks`.
"""
from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .auth_parse import MAX_PRESIGNED_EXPIRES, parse_http_date
from .canonical import HeaderMap, wire_bytes
from .errors import (
    AccessDenied,
    InvalidAccessKeyId,
    InvalidArgument,
    RequestExpired,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from .payload import UNSIGNED_PAYLOAD, build_body, stored_content_encoding
from .query import Query
from .result import VerifiedRequest
from .signing import DUMMY_SECRET

__all__ = ["SUBRESOURCES", "subresources", "strings_to_sign_v2", "verify_v2_header", "verify_v2_query"]

# Query parameters that are part of the SigV2 CanonicalizedResource.
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
        "metrics", "notification", "object-lock", "ownershipControls", "partNumber", "policy",
        "publicAccessBlock", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires", "restore", "retention", "select",
        "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId",
        "versioning", "versions", "website",
    }
)

_V2_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{27}=")
_FOLD = re.compile(r"\s*\r?\n\s*")
_DIGITS = re.compile(r"[0-9]{1,12}")


def subresources(query: Query) -> list[tuple[bytes, bytes | None]]:
    """The SigV2 sub-resources of ``query``: ``(decoded name, decoded value or None)``, sorted by name.

    Decided on decoded names, as the router decides operations (``upload%73`` is ``uploads``).
    """
    found = []
    for (_, raw_value), (name, value) in zip(query.parts, query.pairs, strict=True):
        if name.decode("latin-1") in SUBRESOURCES:
            found.append((name, None if raw_value is None else value))
    found.sort(key=lambda item: item[0])
    return found


def _resources(raw_path: str | bytes, query: Query, bucket: str | None) -> list[bytes]:
    """The CanonicalizedResource candidates: ``/bucket/key`` plus sorted sub-resources.

    A path-style URI naming only a bucket (``/bucket``) is signed as ``/bucket/`` (botocore and
    AWS); some signers keep ``/bucket``, which names the same resource, so both are accepted.
    """
    path = wire_bytes(raw_path) or b"/"
    paths = [path]
    if bucket:
        paths = [b"/" + bucket.encode("utf-8") + path]
    elif path != b"/" and b"/" not in path[1:]:
        paths = [path + b"/", path]
    found = subresources(query)
    if not found:
        return paths
    suffix = b"?" + b"&".join(name if value is None else name + b"=" + value for name, value in found)
    return [candidate + suffix for candidate in paths]


def _amz_headers(headers: HeaderMap, extra: dict[str, str]) -> tuple[bytes, list[str]]:
    amz: dict[str, list[str]] = {name: list(values) for name, values in headers.items() if name.startswith("x-amz-")}
    for name, value in extra.items():
        amz.setdefault(name, []).append(value)
    names = sorted(amz)
    lines = b"".join(
        wire_bytes(f"{name}:{','.join(_FOLD.sub(' ', v).strip() for v in amz[name])}\n") for name in names
    )
    return lines, names


def _header(headers: HeaderMap, name: str, fallback: str = "") -> str:
    values = headers.get(name)
    return ",".join(v.strip() for v in values) if values else fallback


def strings_to_sign_v2(
    method: str,
    raw_path: str | bytes,
    query: Query,
    headers: HeaderMap,
    date_line: str,
    *,
    bucket: str | None = None,
    query_headers: dict[str, str] | None = None,
) -> tuple[list[bytes], list[str]]:
    """The SigV2 StringToSign candidates (one per resource spelling, see :func:`_resources`) and
    the x-amz-* names they cover.

    ``query_headers`` are content-md5/content-type/x-amz-* values carried in a presigned query.
    """
    query_headers = query_headers or {}
    amz_lines, amz_names = _amz_headers(headers, {k: v for k, v in query_headers.items() if k.startswith("x-amz-")})
    head = "\n".join(
        [
            method,
            _header(headers, "content-md5", query_headers.get("content-md5", "")),
            _header(headers, "content-type", query_headers.get("content-type", "")),
            date_line,
        ]
    )
    prefix = wire_bytes(head) + b"\n" + amz_lines
    return [prefix + resource for resource in _resources(raw_path, query, bucket)], amz_names


def _check(
    lookup_secret: Callable[[str], str | None], access_key: str, candidates: list[bytes], signature: str
) -> None:
    secret = lookup_secret(access_key)
    known = secret is not None
    key = (secret if known else DUMMY_SECRET).encode("utf-8")
    provided = signature.encode("latin-1", "replace")
    matches = False
    for to_sign in candidates:  # every candidate is checked: the work does not depend on which matches
        matches |= hmac.compare_digest(base64.b64encode(hmac.digest(key, to_sign, "sha1")), provided)
    to_sign = candidates[0]
    if not known:
        raise InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.", AWSAccessKeyId=access_key
        )
    if not matches:
        raise SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            AWSAccessKeyId=access_key,
            StringToSign=to_sign.decode("latin-1"),
        )


def _result(
    access_key: str, scheme: str, headers: HeaderMap, body: Any, amz_names: list[str],
    signed_at: datetime | None, expires_at: datetime | None,
) -> VerifiedRequest:
    stream, length, _ = build_body(UNSIGNED_PAYLOAD, headers, body)
    signed = tuple(sorted({"content-md5", "content-type", "date", *amz_names} & ({*headers} | {*amz_names})))
    token = headers.get("x-amz-security-token")
    return VerifiedRequest._build(
        access_key,  # access_key_id
        "",  # region
        scheme,  # scheme
        stream,  # body
        signed,  # signed_headers
        UNSIGNED_PAYLOAD,  # payload_mode
        length,  # decoded_content_length
        signed_at,  # signed_at
        expires_at,  # expires_at
        None,  # checksum_algorithm
        token[0] if token else None,  # security_token
        stored_content_encoding(headers),  # content_encoding
        "s3",  # service
    )


def verify_v2_header(
    method: str,
    raw_path: str | bytes,
    query: Query,
    headers: HeaderMap,
    body: Any,
    lookup_secret: Callable[[str], str | None],
    authorization: str,
    *,
    now: datetime,
    max_skew: int,
    virtual_host_bucket: str | None,
) -> VerifiedRequest:
    """Verify ``Authorization: AWS <key>:<base64 HMAC-SHA1>``.

    Raises:
        InvalidArgument: malformed header. AccessDenied: no usable Date/x-amz-date.
        RequestTimeTooSkewed, InvalidAccessKeyId, SignatureDoesNotMatch.
    """
    access_key, sep, signature = authorization[4:].strip().rpartition(":")
    if not sep or not access_key or not _V2_SIGNATURE.fullmatch(signature):
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
        )
    # When x-amz-date is present it is the signed time and the Date line is empty.
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        signed_at = parse_http_date(amz_date[0]) if len(amz_date) == 1 else None
        date_line = ""
    else:
        date = headers.get("date")
        signed_at = parse_http_date(date[0]) if date is not None and len(date) == 1 else None
        date_line = date[0].strip() if date else ""
    if signed_at is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if abs((now - signed_at).total_seconds()) > max_skew:
        raise RequestTimeTooSkewed(
            "The difference between the request time and the current time is too large.",
            MaxAllowedSkewMilliseconds=str(max_skew * 1000),
        )
    to_sign, amz_names = strings_to_sign_v2(method, raw_path, query, headers, date_line, bucket=virtual_host_bucket)
    _check(lookup_secret, access_key, to_sign, signature)
    return _result(access_key, "v2-header", headers, body, amz_names, signed_at, None)


def verify_v2_query(
    method: str,
    raw_path: str | bytes,
    query: Query,
    headers: HeaderMap,
    body: Any,
    lookup_secret: Callable[[str], str | None],
    *,
    now: datetime,
    virtual_host_bucket: str | None,
) -> VerifiedRequest:
    """Verify a SigV2 presigned URL (``AWSAccessKeyId``, ``Signature``, ``Expires``).

    Raises:
        AccessDenied: missing/repeated parameters; RequestExpired; InvalidAccessKeyId;
        SignatureDoesNotMatch.
    """
    params = query.values()
    values = {}
    for name in (b"AWSAccessKeyId", b"Signature", b"Expires"):
        found = params.get(name)
        if found is None or len(found) != 1:
            raise AccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        values[name] = found[0].decode("latin-1")
    expires = values[b"Expires"]
    if not _DIGITS.fullmatch(expires):
        raise AccessDenied("Expires must be a number of seconds since the epoch")
    expires_at = datetime.fromtimestamp(int(expires), tz=UTC)
    if now > expires_at:
        raise RequestExpired("Request has expired", Expires=expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if (expires_at - now).total_seconds() > MAX_PRESIGNED_EXPIRES:
        # SigV2 URLs carry no signing time: cap the time left as SigV4 caps X-Amz-Expires.
        raise AccessDenied("Expires must be less than a week (604800 seconds) in the future")
    query_headers = {}
    for name, found in params.items():
        text = name.decode("latin-1").lower()
        if text.startswith("x-amz-") or text in ("content-md5", "content-type"):
            query_headers[text] = ",".join(v.decode("latin-1") for v in found)
    to_sign, amz_names = strings_to_sign_v2(
        method, raw_path, query, headers, expires, bucket=virtual_host_bucket, query_headers=query_headers,
    )
    _check(lookup_secret, values[b"AWSAccessKeyId"], to_sign, values[b"Signature"])
    token = query_headers.get("x-amz-security-token")
    result = _result(values[b"AWSAccessKeyId"], "v2-query", headers, body, amz_names, None, expires_at)
    if token is not None and result.security_token is None:
        result = replace(result, security_token=token)
    return result
