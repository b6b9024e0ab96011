"""Pure S3 routing: (method, host, raw path, query, headers) -> which operation, bucket and key.

Path-style (``/<bucket>/<key>``) always works; virtual-hosted style (``<bucket>.<base_domain>/<key>``) when a
base domain is configured. The key is percent-decoded exactly once and must be UTF-8; nothing is normalized
here (``a//b`` stays ``a//b``: the authorizer refuses such keys, it never rewrites them). Which operation a
request is comes from the one table in :mod:`.operations`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..sigv4.canonical import percent_decode
from ..sigv4.errors import S3AuthError
from ..sigv4.query import Query
from .errors import S3Error
from .operations import Level, Operation, select

__all__ = ["Route", "route", "locate", "resolve", "decode_component", "parse_query_params", "virtual_bucket"]

# Sub-resources S3 knows but the gateway does not implement: asking for them is NotImplemented, never a listing
# or a plain GetObject in disguise.
_UNSUPPORTED_SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering", "inventory",
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
    def level(self) -> Level:
        if self.bucket is None:
            return Level.SERVICE
        return Level.BUCKET if self.key is None else Level.OBJECT

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


def parse_query_params(query_string: str | Query) -> dict[str, str]:
    """Decoded query parameters (``+`` is literal, as SigV4 signs it); the first value of a repeated name wins.

    ``query_string`` is raw, or the :class:`~ticketbooth.sigv4.query.Query` the verifier shares: names are
    decided decoded in both (``upload%73`` is ``uploads`` to the router and to SigV2's sub-resources).
    Raises ``S3Error(InvalidURI)`` for malformed percent-encoding or non-UTF-8 text.
    """
    try:
        pairs = Query.parse(query_string).pairs
    except (S3AuthError, UnicodeEncodeError) as err:
        raise S3Error("InvalidURI", 400, "Couldn't parse the specified URI.") from err
    params: dict[str, str] = {}
    for name, value in pairs:
        try:
            params.setdefault(name.decode("utf-8"), value.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise S3Error("InvalidArgument", 400, "Query parameters must be valid UTF-8.") from err
    return params


def virtual_bucket(host: str | None, base_domain: str) -> str | None:
    """The bucket a virtual-hosted ``Host`` (``<bucket>.<base_domain>[:port]``) names, or ``None``."""
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



def locate(
    method: str,
    raw_path: str,
    query_string: str | Query = "",
    *,
    host: str | None = None,
    base_domain: str = "",
) -> Route:
    """Addressing only: bucket, key, query and style of a request, its operation not yet chosen
    (``operation == ""``). ``raw_path`` is the path as received (percent-encoding untouched, no query).

    This is all a signature check needs, so the operation is chosen (:func:`resolve`) only after the request
    is authenticated: an unsigned request never learns what the gateway implements. Raises
    ``S3Error(InvalidURI)`` for bad encoding or a path not starting with ``/``.
    """
    if not raw_path.startswith("/"):
        raise S3Error("InvalidURI", 400, "Couldn't parse the specified URI.")
    params = parse_query_params(query_string)
    bucket = virtual_bucket(host, base_domain)
    style = "path"
    if bucket is not None:
        style = "virtual"
        raw_key = raw_path[1:]
    else:
        raw_bucket, slash, raw_key = raw_path[1:].partition("/")
        bucket = decode_component(raw_bucket, "bucket name") if raw_bucket else None
        if bucket is None or not slash:
            raw_key = ""
    key = decode_component(raw_key, "object key") if raw_key else None
    return Route(operation="", bucket=bucket, key=key, params=params, style=style)


def resolve(method: str, located: Route, headers: Mapping[str, str] | None = None) -> Route:
    """``located`` with its operation chosen from the operation table; ``headers`` maps lower-case names to
    values (only the presence of selecting headers such as ``x-amz-copy-source`` matters).

    Raises ``S3Error``: ``MethodNotAllowed``, ``NotImplemented`` (an S3 operation the gateway does not offer),
    ``InvalidArgument``/``InvalidRequest`` (a selector S3 itself refuses).
    """
    operation = _operation(method.upper(), located, headers or {})
    return replace(located, operation=operation.name)


def route(
    method: str,
    raw_path: str,
    query_string: str = "",
    *,
    host: str | None = None,
    headers: Mapping[str, str] | None = None,
    base_domain: str = "",
) -> Route:
    """:func:`locate` then :func:`resolve`, for callers that need no authentication step in between."""
    located = locate(method, raw_path, query_string, host=host, base_domain=base_domain)
    return resolve(method, located, headers)


def _not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", 501, f"A header or query you provided implies functionality that is not "
                   f"implemented ({what}).")


def _method_not_allowed(method: str) -> S3Error:
    return S3Error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.",
                   details={"Method": method})


def _operation(method: str, located: Route, headers: Mapping[str, str]) -> Operation:
    params = located.params
    unsupported = sorted(_UNSUPPORTED_SUBRESOURCES.intersection(params))
    if unsupported:
        raise _not_implemented(f"?{unsupported[0]}")
    level = located.level
    if level is Level.SERVICE and method == "HEAD":
        method = "GET"  # HEAD / answers ListBuckets' headers (health checks use it)
    if level is Level.BUCKET and method == "GET" and params.get("list-type", "2") != "2":
        raise S3Error("InvalidArgument", 400, "Invalid list-type.", details={"ArgumentName": "list-type"})
    if level is Level.OBJECT and method == "PUT" and ("uploadId" in params) != ("partNumber" in params):
        raise S3Error("InvalidRequest", 400, "UploadPart needs both partNumber and uploadId.")
    operation = select(method, level, params, headers)
    if operation is not None:
        return operation
    if level is Level.SERVICE or method not in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        raise _method_not_allowed(method)
    raise _not_implemented(f"{method} on {'an object' if level is Level.OBJECT else 'a bucket'}")
