"""Build S3 SigV4 presigned URLs (query-string authentication) from the verifier's own canonicalization.

Pure: the instant to sign at is a parameter, nothing is read from the environment or the clock. The URL is
path-style (``<endpoint>/<bucket>/<key>``) and signs only the ``host`` header with ``UNSIGNED-PAYLOAD``, as
botocore's ``generate_presigned_url`` does, so any S3 server (and :func:`ticketbooth.sigv4.verify`) accepts it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from .canonical import canonical_query, canonical_request, canonical_uri, string_to_sign, uri_encode
from .signing import hmac_sha256_hex, signing_key

__all__ = ["MAX_PRESIGN_EXPIRES", "PresignedURL", "presign_url"]

#: S3's own ceiling for ``X-Amz-Expires``: seven days.
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PresignedURL:
    """A presigned URL and what it allows: ``method`` on it until ``expires_at`` (UTC)."""

    url: str
    method: str
    expires_at: datetime

    def __repr__(self) -> str:  # the URL is a bearer credential: keep it out of logs and tracebacks
        return f"PresignedURL(method={self.method!r}, expires_at={self.expires_at.isoformat()!r})"


def _host_header(scheme: str, hostname: str, port: int | None) -> str:
    # Clients send the port in Host unless it is the scheme's default; the signature must match that.
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return host
    return f"{host}:{port}"


def presign_url(
    *,
    method: str,
    endpoint_url: str,
    bucket: str,
    key: str,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    now: datetime,
    expires_in: int,
    service: str = "s3",
) -> PresignedURL:
    """Sign ``method`` on ``<endpoint_url>/<bucket>/<key>`` for ``expires_in`` seconds from ``now``.

    ``endpoint_url`` is ``http(s)://host[:port][/base]``; ``key`` is the object key as text (encoded here,
    ``/`` kept). Raises ``ValueError`` for a bad endpoint, an empty bucket, a naive ``now`` or an expiry outside
    1..:data:`MAX_PRESIGN_EXPIRES` seconds.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 1 <= expires_in <= MAX_PRESIGN_EXPIRES:
        raise ValueError(f"expires_in must be 1 to {MAX_PRESIGN_EXPIRES} seconds")
    if not bucket:
        raise ValueError("bucket must not be empty")
    parts = urlsplit(endpoint_url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("endpoint_url must be an http(s) URL with a host")
    method = method.upper()
    now = now.astimezone(UTC).replace(microsecond=0)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now:%Y%m%d}/{region}/{service}/aws4_request"
    host = _host_header(parts.scheme, parts.hostname.lower(), parts.port)
    raw_path = parts.path.rstrip("/") + "/" + uri_encode(bucket.encode("utf-8"))
    raw_path += "/" + uri_encode(key.encode("utf-8"), keep_slash=True) if key else "/"
    query = [
        (b"X-Amz-Algorithm", _ALGORITHM.encode()),
        (b"X-Amz-Credential", f"{access_key_id}/{scope}".encode()),
        (b"X-Amz-Date", amz_date.encode()),
        (b"X-Amz-Expires", str(expires_in).encode()),
        (b"X-Amz-SignedHeaders", b"host"),
    ]
    canonical_qs = canonical_query(query)
    # SigV4 steps 1-4: canonical request, string to sign, signing key, signature.
    request = canonical_request(method, canonical_uri(raw_path), canonical_qs, f"host:{host}\n", "host",
                                _UNSIGNED_PAYLOAD)
    signature = hmac_sha256_hex(signing_key(secret_access_key, f"{now:%Y%m%d}", region, service),
                                string_to_sign(amz_date, scope, request))
    url = f"{parts.scheme}://{host}{raw_path}?{canonical_qs}&X-Amz-Signature={signature}"
    return PresignedURL(url=url, method=method, expires_at=now + timedelta(seconds=expires_in))

