"""``ticketbooth.sigv4``: a strict, fast verifier of S3 request signatures (pure logic, no I/O).

Usage::

    from ticketbooth.sigv4 import verify, S3AuthError, with_content_checks

    try:
        result = verify(method, raw_path, query_string, headers, body, lookup_secret)
        body = with_content_checks(result.body, headers)   # Content-MD5 / x-amz-checksum-*
        shutil.copyfileobj(body, destination)              # EOF verifies the payload
    except S3AuthError as err:
        return err.status, err.to_xml(resource=raw_path, request_id=request_id)

Supported: SigV4 ``Authorization`` header and presigned URLs; payloads as a literal SHA-256,
``UNSIGNED-PAYLOAD``, ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (chunk-signature chain),
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`` and ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``
(trailing CRC32/CRC32C/CRC64NVME/SHA1/SHA256); SigV2 header and query authentication.
"""
from __future__ import annotations

from .canonical import canonical_query, canonical_uri, collect_headers, parse_query
from .checksums import CHECKSUM_ALGORITHMS, ContentCheck, content_checks, with_content_checks
from .errors import (
    AccessDenied,
    AnonymousRequest,
    AuthenticationError,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    InvalidURI,
    MalformedRequestError,
    MissingContentLength,
    MissingSecurityHeader,
    PayloadError,
    RequestExpired,
    RequestNotYetValid,
    RequestTimeTooSkewed,
    S3AuthError,
    SignatureDoesNotMatch,
    UnsignedHeaders,
    XAmzContentSHA256Mismatch,
)
from .query import Query
from .result import PAYLOAD_MODES, SCHEMES, VerifiedRequest
from .signing import clear_signing_key_cache
from .streaming import MAX_CHUNK_SIZE
from .verify import SecretLookup, verify

__all__ = [
    "verify",
    "VerifiedRequest",
    "SecretLookup",
    "with_content_checks",
    "content_checks",
    "ContentCheck",
    "clear_signing_key_cache",
    "canonical_uri",
    "canonical_query",
    "parse_query",
    "Query",
    "collect_headers",
    "CHECKSUM_ALGORITHMS",
    "PAYLOAD_MODES",
    "SCHEMES",
    "MAX_CHUNK_SIZE",
    "S3AuthError",
    "AuthenticationError",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "RequestTimeTooSkewed",
    "AccessDenied",
    "AnonymousRequest",
    "RequestExpired",
    "RequestNotYetValid",
    "UnsignedHeaders",
    "MalformedRequestError",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "InvalidArgument",
    "InvalidRequest",
    "InvalidURI",
    "MissingSecurityHeader",
    "MissingContentLength",
    "PayloadError",
    "XAmzContentSHA256Mismatch",
    "BadDigest",
    "InvalidDigest",
    "IncompleteBody",
]
