"""Pure S3 operation routing: (method, host, raw path, query, headers) -> which operation, bucket and key.

Path-style (``/<bucket>/<key>``) always works; virtual-hosted style (``<bucket>.<base_domain>/<key>``) when a
base domain is configured. The key is percent-decoded exactly once and must be UTF-8; nothing is normalized
here (``a//b`` stays ``a//b``: the authorizer refuses such keys, it never rewrites them).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..sigv4.canonical import parse_query, percent_decode
from ..sigv4.errors import S3AuthError
from .errors import S3Error

__all__ = ["Route", "route", "decode_component", "parse_query_params", "OPERATIONS", "BUCKET_OPERATIONS", "SERVICE_OPERATIONS"]

#: Operations the gateway implements.
OPERATIONS = frozenset({
    "ListBuckets", "CreateBucket", "HeadBucket", "GetBucketLocation", "ListObjectsV1", "ListObjectsV2",
    "ListMultipartUploads", "DeleteObjects", "HeadObject", "GetObject", "PutObject", "DeleteObject",
    "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
})
SERVICE_OPERATIONS = frozenset({"ListBuckets"})
BUCKET_OPERATIONS = frozenset({
    "CreateBucket", "HeadBucket", "GetBucketLocation", "ListObjectsV1", "ListObjectsV2", "ListMultipartUploads",
    "DeleteObjects",
})

# Sub-resources S3 knows but the gateway does not implement: asking for them is NotImplemented, never a listing
# or a plain GetObject in disguise.
_UNSUPPORTED_SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
    "legal-hold", "lifecycle", "logging", "metadata-table", "metrics", "notification", "object-lock",
    "ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment",
    "restore", "retention", "select", "session", "tagging", "torrent", "versioning", "versions", "website",
    "renameObject",
})


@dataclass(frozen=True)
class Route:
    """Where a request goes. ``bucket`` is ``None`` for service-level requests; ``key`` ``None`` for bucket-level.

    ``params`` holds the decoded query parameters (first value of each name); ``style`` is ``"path"`` or
    ``"virtual"``.
    """

    operation: str
    bucket: str | None = None
    key: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    style: str = "path"

    @property
    def object_level(self) -> bool:
        return self.key is not None

    @property
    def resource(self) -> str:
        """The ``<Resource>`` of an error document: ``/bucket/key`` as decoded."""
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")


def decode_component(raw: str, what: str) -> str:
    """Percent-decode ``raw`` once into UTF-8 text; ``S3Error(InvalidURI)`` when that is impossible."""
    try:
        return percent_decode(raw.encode("latin-1")).decode("utf-8")
    except S3AuthError as err:
        raise S3Error("InvalidURI", 400, "Couldn't parse the specified URI.") from err
    except (UnicodeDecodeError, UnicodeEncodeError) as err:
        raise S3Error("InvalidURI", 400, f"The {what} is not valid UTF-8.") from err


def parse_query_params(query_string: str) -> dict[str, str]:
    """Decoded query parameters (``+`` is literal, as SigV4 signs it); the first value of a repeated name wins.

    Raises ``S3Error(InvalidURI)`` for malformed percent-encoding or non-UTF-8 text.
    """
    try:
        pairs = parse_query(query_string.encode("latin-1"))
    except (S3AuthError, UnicodeEncodeError) as err:
        raise S3Error("InvalidURI", 400, "Couldn't parse the specified URI.") from err
    params: dict[str, str] = {}
    for name, value in pairs:
        try:
            params.setdefault(name.decode("utf-8"), value.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise S3Error("InvalidArgument", 400, "Query parameters must be valid UTF-8.") from err
    return params


def _virtual_bucket(host: str | None, base_domain: str) -> str | None:
    if not base_domain or not host:
        return None
    name = host.strip().lower()
    if name.startswith("["):  # an IPv6 literal is never a bucket host
        return None
    name = name.rsplit(":", 1)[0] if ":" in name else name
    suffix = "." + base_domain.strip(".").lower()
    if name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return None


def route(
    method: str,
    raw_path: str,
    query_string: str = "",
    *,
    host: str | None = None,
    headers: Mapping[str, str] | None = None,
    base_domain: str = "",
) -> Route:
    """Route a request. ``raw_path`` is the path as received (percent-encoding untouched, no query);
    ``headers`` maps lower-case names to values (only ``x-amz-copy-source`` is looked at).

    Raises ``S3Error``: ``InvalidURI`` (bad encoding or a path not starting with ``/``), ``MethodNotAllowed``,
    ``NotImplemented`` (an S3 operation the gateway does not offer).
    """
    if not raw_path.startswith("/"):
        raise S3Error("InvalidURI", 400, "Couldn't parse the specified URI.")
    params = parse_query_params(query_string)
    bucket = _virtual_bucket(host, base_domain)
    style = "path"
    if bucket is not None:
        style = "virtual"
        raw_key = raw_path[1:]
    else:
        raw_bucket, slash, raw_key = raw_path[1:].partition("/")
        bucket = decode_component(raw_bucket, "bucket name") if raw_bucket else None
        if bucket is None:
            raw_key = ""
        elif not slash:
            raw_key = ""
    key = decode_component(raw_key, "object key") if raw_key else None
    method = method.upper()
    operation = _operation(method, bucket, key, params, headers or {})
    return Route(operation=operation, bucket=bucket, key=key, params=params, style=style)


def _not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", 501, f"A header or query you provided implies functionality that is not "
                   f"implemented ({what}).")


def _method_not_allowed(method: str) -> S3Error:
    return S3Error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.",
                   details={"Method": method})


def _operation(method: str, bucket: str | None, key: str | None, params: Mapping[str, str],
               headers: Mapping[str, str]) -> str:
    unsupported = sorted(_UNSUPPORTED_SUBRESOURCES.intersection(params))
    if unsupported:
        raise _not_implemented(f"?{unsupported[0]}")
    if bucket is None:
        if method in ("GET", "HEAD"):
            return "ListBuckets"
        raise _method_not_allowed(method)
    if key is None:
        return _bucket_operation(method, params)
    return _object_operation(method, params, headers)


def _bucket_operation(method: str, params: Mapping[str, str]) -> str:
    if method == "GET":
        if "location" in params:
            return "GetBucketLocation"
        if "uploads" in params:
            return "ListMultipartUploads"
        if params.get("list-type") == "2":
            return "ListObjectsV2"
        if "list-type" in params:
            raise S3Error("InvalidArgument", 400, "Invalid list-type.", details={"ArgumentName": "list-type"})
        return "ListObjectsV1"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return "CreateBucket"
    if method == "POST":
        if "delete" in params:
            return "DeleteObjects"
        raise _not_implemented("POST on a bucket")
    if method == "DELETE":
        raise _not_implemented("DeleteBucket")
    raise _method_not_allowed(method)


def _object_operation(method: str, params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    upload = "uploadId" in params
    if method == "GET":
        return "ListParts" if upload else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if "x-amz-copy-source" in headers:
            raise _not_implemented("UploadPartCopy" if upload else "CopyObject")
        if upload or "partNumber" in params:
            if not (upload and "partNumber" in params):
                raise S3Error("InvalidRequest", 400, "UploadPart needs both partNumber and uploadId.")
            return "UploadPart"
        return "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if upload else "DeleteObject"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if upload:
            return "CompleteMultipartUpload"
        raise _not_implemented("POST on an object")
    raise _method_not_allowed(method)
