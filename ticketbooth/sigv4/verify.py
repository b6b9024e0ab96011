"""The entry point: :func:`verify` checks one S3 request's signature (SigV4 header or query,
SigV2 header or query) and returns who signed it and a verifying body stream."""
from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from .auth_parse import (
    V4Authorization,
    V4Presigned,
    parse_amz_date,
    parse_authorization_header,
    parse_http_date,
    parse_presigned_query,
)
from .canonical import (
    HeaderInput,
    HeaderMap,
    canonical_headers,
    canonical_request,
    canonical_uri,
    collect_headers,
    string_to_sign,
    wire_bytes,
)
from .errors import (
    AccessDenied,
    AnonymousRequest,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    MalformedRequestError,
    RequestExpired,
    RequestNotYetValid,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnsignedHeaders,
)
from .payload import (
    STREAMING_MODES,
    UNSIGNED_PAYLOAD,
    buffer_body,
    build_body,
    payload_mode,
    stored_content_encoding,
)
from .query import Query
from .result import VerifiedRequest
from .signing import DUMMY_SECRET, signer
from .sigv2 import verify_v2_header, verify_v2_query

__all__ = ["verify", "SecretLookup"]

SecretLookup = Callable[[str], "str | None"]

_V4_QUERY_MARKERS = frozenset({b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature"})
_V2_QUERY_MARKERS = frozenset({b"AWSAccessKeyId", b"Signature"})
_ISO_BASIC = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")


def verify(
    method: str,
    raw_path: str | bytes,
    query_string: str | bytes | Query,
    headers: HeaderInput,
    body: Any,
    lookup_secret: SecretLookup,
    *,
    now: datetime | None = None,
    service: str = "s3",
    max_skew: int = 900,
    region: str | None = None,
    virtual_host_bucket: str | None = None,
) -> VerifiedRequest:
    """Verify an S3 request's signature and return the signer and a verifying body stream.

    Args:
        method: the HTTP method as received ("GET", "PUT", ...).
        raw_path: the request path as received on the wire, percent-encoding untouched (WSGI:
            ``RAW_URI``/``REQUEST_URI`` without the query, not ``PATH_INFO``).
        query_string: the raw query string, "" when none, or the :class:`~.query.Query` the
            caller already split (the gateway shares one with its router).
        headers: (name, value) pairs as received (repeats allowed) or a mapping. ``str`` values
            are latin-1 decoded wire bytes (the WSGI convention).
        body: bytes, or a readable binary file-like (read lazily, never past Content-Length).
        lookup_secret: access key id -> secret access key, or None when the key is unknown.
        now: the time to judge windows by (aware; naive is taken as UTC); default: current time.
        service: the service the credential scope must name.
        max_skew: seconds a header-signed request's date may differ from ``now``.
        region: if given, the only region accepted in the credential scope.
        virtual_host_bucket: for SigV2 on virtual-hosted-style requests, the bucket the gateway
            took from Host (SigV2 signs ``/bucket/key``).

    Returns:
        VerifiedRequest (see its docstring for every field).

    Raises:
        S3AuthError: the request is not authentic, not acceptable or malformed; ``.code`` and
            ``.status`` say how to answer. Reading ``result.body`` raises it for payload errors.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    header_map = collect_headers(headers)
    authorization = header_map.get("authorization")
    query = Query.parse(query_string)
    # Every auth parameter name holds "Amz-", "Signature" or "AWSAccessKeyId"; spelled with escapes
    # (or "+"), it is in a query that is not canonical: most queries need no name set at all.
    raw_query = query.raw
    if raw_query and (raw_query.find(b"Amz-") >= 0 or raw_query.find(b"Signature") >= 0
                      or raw_query.find(b"AWSAccessKeyId") >= 0
                      or (not query.is_canonical() and query.names_encoded())):
        names = query.names()
        v4_query = not names.isdisjoint(_V4_QUERY_MARKERS)
        v2_query = not names.isdisjoint(_V2_QUERY_MARKERS)
    else:
        v4_query = v2_query = False
    if (authorization is not None) + v4_query + v2_query > 1:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
        )
    if authorization is not None:
        if len(authorization) != 1:
            raise AuthorizationHeaderMalformed("the Authorization header is repeated")
        value = authorization[0].strip()
        if value.startswith("AWS "):
            return verify_v2_header(
                method, raw_path, query, header_map, body, lookup_secret, value,
                now=now, max_skew=max_skew, virtual_host_bucket=virtual_host_bucket,
            )
        auth = parse_authorization_header(value)
        return _verify_v4(
            method, raw_path, query, header_map, body, lookup_secret, auth, None,
            now=now, service=service, max_skew=max_skew, region=region,
        )
    if v4_query:
        presigned = parse_presigned_query(query.values())
        return _verify_v4(
            method, raw_path, query, header_map, body, lookup_secret, None, presigned,
            now=now, service=service, max_skew=max_skew, region=region,
        )
    if v2_query:
        return verify_v2_query(
            method, raw_path, query, header_map, body, lookup_secret,
            now=now, virtual_host_bucket=virtual_host_bucket,
        )
    raise AnonymousRequest("the request carries no authentication")


def _request_date(headers: HeaderMap) -> tuple[datetime, str]:
    """SigV4 header auth: the signed time from x-amz-date (preferred) or Date."""
    amz = headers.get("x-amz-date")
    if amz is not None:
        if len(amz) != 1:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        text = amz[0].strip()
        try:
            return parse_amz_date(text, AuthorizationHeaderMalformed), text
        except MalformedRequestError:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from None
    date = headers.get("date")
    parsed = parse_http_date(date[0]) if date is not None and len(date) == 1 else None
    if parsed is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    return parsed, parsed.strftime(_ISO_BASIC)


@lru_cache(maxsize=1024)
def _signed_set(signed: tuple[str, ...]) -> frozenset[str]:
    return frozenset(signed)


def _check_signed_headers(headers: HeaderMap, signed: tuple[str, ...]) -> None:
    """Host and every x-amz-* header present must be signed (a signed header that is missing is
    found by canonical_headers)."""
    signed_set = _signed_set(signed)
    if "host" not in signed_set:
        raise UnsignedHeaders("the host header must be signed", HeadersNotSigned="host")
    for name in headers.keys() - signed_set:
        if name.startswith("x-amz-"):
            raise UnsignedHeaders(
                "There were headers present in the request which were not signed", HeadersNotSigned=name
            )


def _verify_v4(
    method: str,
    raw_path: str | bytes,
    query: Query,
    headers: HeaderMap,
    body: Any,
    lookup_secret: SecretLookup,
    auth: V4Authorization | None,
    presigned: V4Presigned | None,
    *,
    now: datetime,
    service: str,
    max_skew: int,
    region: str | None,
) -> VerifiedRequest:
    parsed = auth if auth is not None else presigned
    assert parsed is not None
    error = AuthorizationHeaderMalformed if auth is not None else AuthorizationQueryParametersError
    credential = parsed.credential
    if credential.service != service:
        raise error(f"the credential scope names service '{credential.service}'; expecting '{service}'")
    if region is not None and credential.region != region:
        raise error(f"the region '{credential.region}' is wrong; expecting '{region}'", Region=region)

    expires_at = None
    if presigned is not None:
        date, amz_date = presigned.date, presigned.amz_date
        expires_at = date + timedelta(seconds=presigned.expires)
        if now < date - timedelta(seconds=max_skew):
            raise RequestNotYetValid("Request is not valid yet")
        if now > expires_at:
            raise RequestExpired("Request has expired", Expires=expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    else:
        amz = headers.get("x-amz-date")
        try:
            if amz is None or len(amz) != 1 or not _AMZ_DATE.fullmatch(amz[0]):
                raise ValueError
            amz_date = amz[0]  # the usual case, parsed inline: fixed width, no cache
            date = datetime.fromisoformat(amz_date)
        except ValueError:  # anything else (Date header, a 13th month, ...): the general path
            date, amz_date = _request_date(headers)
        if abs((now - date).total_seconds()) > max_skew:
            raise RequestTimeTooSkewed(
                "The difference between the request time and the current time is too large.",
                RequestTime=amz_date,
                ServerTime=now.strftime(_ISO_BASIC),
                MaxAllowedSkewMilliseconds=str(max_skew * 1000),
            )
    if credential.date != amz_date[:8]:
        raise error("Invalid credential date. Date is not the same as X-Amz-Date.")

    # The payload hash line of the canonical request, and how the body is checked.
    declared = headers.get("x-amz-content-sha256")
    expected_sha256 = None
    if declared is not None:
        if len(declared) != 1:
            raise InvalidArgument("the x-amz-content-sha256 header is repeated")
        payload_hash = declared[0].strip()
        mode = payload_mode(payload_hash)
        if mode == "SHA256":
            expected_sha256 = payload_hash
    elif service != "s3" or presigned is None:
        # Generic SigV4 services sign the body's hash without announcing it, and so do S3 clients
        # that omit the header (curl 7.88 --aws-sigv4): the payload hash is the SHA-256 of the
        # (possibly empty) body, read here, before the signature is checked (MinIO does the same).
        body, payload_hash = buffer_body(body, headers)
        mode = "SHA256"
    else:
        payload_hash = mode = UNSIGNED_PAYLOAD

    signed = parsed.signed_headers
    _check_signed_headers(headers, signed)

    # SigV4 steps 1 and 2: canonical request, string to sign.
    try:
        headers_block = canonical_headers(headers, signed)
    except KeyError as missing:
        raise SignatureDoesNotMatch(f"the signed header {missing.args[0]} is not present in the request") from None
    uri = canonical_uri(raw_path)
    canonical_query = query.canonical(exclude=b"X-Amz-Signature" if presigned is not None else None) if query.raw else ""
    canonical = canonical_request(method, uri, canonical_query, headers_block, parsed.signed_headers_text, payload_hash)
    scope = credential.scope
    to_sign = string_to_sign(amz_date, scope, canonical)

    # SigV4 steps 3 and 4: signing key and signature; an unknown key does the same work.
    secret = lookup_secret(credential.access_key_id)
    known = secret is not None
    key_signer = signer(secret if known else DUMMY_SECRET, credential.date, credential.region, credential.service)
    key = key_signer.key
    matches = hmac.compare_digest(key_signer.hexdigest(to_sign), parsed.signature)
    if not matches and presigned is None:
        # curl 7.88 --aws-sigv4 signs the path and query verbatim (unsorted, "+" and "?location" as sent).
        # Those are the very bytes received and routed, so this form binds the request just as tightly.
        raw_uri, raw_query = wire_bytes(raw_path).decode("latin-1"), query.raw.decode("latin-1")
        if raw_uri != uri or raw_query != canonical_query:
            verbatim = canonical_request(method, raw_uri, raw_query, headers_block, parsed.signed_headers_text,
                                         payload_hash)
            matches = hmac.compare_digest(key_signer.hexdigest(string_to_sign(amz_date, scope, verbatim)),
                                          parsed.signature)
    if not known:
        raise InvalidAccessKeyId(
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=credential.access_key_id,
        )
    if not matches:
        raise SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            AWSAccessKeyId=credential.access_key_id,
            StringToSign=to_sign.decode("ascii"),
            CanonicalRequest=canonical.decode("latin-1"),
        )

    stream, decoded_length, algorithm = build_body(
        mode,
        headers,
        body,
        signing_key=key if mode in STREAMING_MODES else None,
        amz_date=amz_date,
        scope=scope,
        seed_signature=parsed.signature,
        expected_sha256=expected_sha256,
    )
    token = headers.get("x-amz-security-token")
    return VerifiedRequest._build(
        credential.access_key_id,  # access_key_id
        credential.region,  # region
        "v4-header" if presigned is None else "v4-query",  # scheme
        stream,  # body
        signed,  # signed_headers
        mode,  # payload_mode
        decoded_length,  # decoded_content_length
        date,  # signed_at
        expires_at,  # expires_at
        algorithm,  # checksum_algorithm
        presigned.security_token if presigned is not None else (token[0] if token else None),  # security_token
        stored_content_encoding(headers),  # content_encoding
        credential.service,  # service
    )
