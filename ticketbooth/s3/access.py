"""May this key do this to this path now: the one place that turns an S3 request (or anonymous link) into an
authorization decision. Core, not gateway: the reference gateway and the API's ``POST /v1/authorize`` both
call it.

:func:`authorize` runs, in this order, and stops at the first refusal:

1. addressing (:func:`.routing.locate`: bucket, key, query; only malformed URIs are refused here), then
   SigV4/SigV2 verification (``ticketbooth.sigv4.verify``) with the resolver's ``secret_for`` as the secret
   lookup; an unsigned request is ``AccessDenied``, whatever operation it names — except a read
   (:data:`PUBLIC_OPERATIONS`) of a live anonymous ticket's public bucket (:mod:`.buckets`), which goes on with
   steps 3 to 6 as holder ``anonymous``, one use per request;
2. key resolution to (ticket, holder); the operation is chosen from the table (:func:`.routing.resolve`:
   ``NotImplemented`` and the like only now); the signing region must be the configured one;
3. addressing: the bucket must be ``ticket-<id>`` of *that* ticket, the
   key is mapped under the ticket's root with :func:`ticketbooth.paths.join` (so ``..``, ``.``, empty segments
   and prefix confusion ``ds1``/``ds10`` cannot happen by construction);
4. the action the operation needs (read: list/stat/read; write: also write/delete) against the ticket type;
5. ticket status and allow-lists (:func:`ticketbooth.policy.check_usable`), with the client address taken
   from ``X-Forwarded-For`` only through trusted proxies, judged by the backend in step 6 on the ticket as its
   catalogue holds it now (the resolver's copy may be ``s3.key_cache_ttl`` seconds old);
6. ``backend.open_session``: this counts one use of the ticket (refused requests count none); with
   ``s3.use_window`` a key pair's request that follows its previous one within the window continues that use
   (``ticketbooth.policy.continues_use``). Anonymous links always count one use per request.

:func:`authorize_link` does steps 3 to 6 for the anonymous capability URLs ``/_t/<ticket string>/<path>``.
Both return a :class:`Decision` holding the open :class:`~ticketbooth.backends.base.DataSession`; close it
(``with decision:``) when the request is done. Every refusal raises an error that
:func:`.errors.to_s3_error` maps to the S3 error to answer with.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, BinaryIO

from .. import paths, policy
from ..backends.base import DataSession, TicketBackend
from ..errors import TicketBoothError, TicketNotFound
from ..model import Access, TargetKind, Ticket
from ..resolver import KeyResolver
from ..settings import Settings
from ..sigv4 import verify
from ..sigv4.errors import AnonymousRequest, AuthorizationHeaderMalformed
from ..sigv4.query import Query
from .buckets import public_ticket_string
from .clientaddr import client_address
from .errors import S3Error
from .operations import BY_NAME, OPERATIONS
from .routing import Route, decode_component, locate, parse_query_params, resolve

__all__ = ["RequestParts", "Decision", "authorize", "authorize_link", "ACTIONS", "PUBLIC_OPERATIONS", "bucket_name",
           "object_path", "copy_source"]

#: The ticket action (``ticketbooth.policy`` READ_ACTIONS / WRITE_ACTIONS) each operation needs, from the table.
ACTIONS: Mapping[str, str] = {op.name: op.action for op in OPERATIONS}

# Operations S3 answers for any region (minio-py and others find the region this way).
_ANY_REGION_OPERATIONS = frozenset({"GetBucketLocation", "ListBuckets"})
_TICKET_BUCKET = re.compile(r"ticket-[0-9]{1,19}")
#: What an unsigned request may do to a public bucket: the GET/HEAD reads, less the multipart listings.
PUBLIC_OPERATIONS = frozenset(op.name for op in OPERATIONS if op.method in ("GET", "HEAD")
                              and op.action in policy.READ_ACTIONS) - {"ListMultipartUploads", "ListParts"}
# Server-side encryption (SSE-S3, SSE-KMS, SSE-C, and SSE-C of a copy source) the gateway cannot honour: it
# stores plaintext, so accepting the header would lie to the client (MinIO without KMS answers the same 501).
_ENCRYPTION_PREFIXES = ("x-amz-server-side-encryption", "x-amz-copy-source-server-side-encryption")


@dataclass(frozen=True)
class RequestParts:
    """An HTTP request as received, for :func:`authorize`.

    ``raw_path``: the path on the wire, percent-encoding untouched, without the query. ``query_string``: raw,
    without ``?``. ``headers``: (name, value) pairs as received (any case; repeats allowed). ``body``: bytes
    or a readable binary stream (read lazily by the verifier's decoded stream). ``remote_addr``: the TCP peer.
    """

    method: str
    raw_path: str
    query_string: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | BinaryIO = b""
    remote_addr: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]


@dataclass(frozen=True)
class Decision:
    """A granted request: who uses which ticket for what, and the open data session (one use counted).

    ``path`` is the logical (iRODS) path the request targets: the object for object operations, the ticket's
    target for bucket operations. ``auth`` is the ``ticketbooth.sigv4`` verify result (``auth.body`` is the
    decoded, verifying request body); ``None`` for anonymous links. Use as a context manager to close the
    session.
    """

    ticket: Ticket
    holder: str
    route: Route
    path: str
    action: str
    client_host: str | None
    session: DataSession
    auth: Any = None
    access_key_id: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def ticket_id(self) -> int:
        return self.ticket.id

    @property
    def access(self) -> Access:
        return self.ticket.access

    @property
    def anonymous(self) -> bool:
        return self.ticket.anonymous

    @property
    def operation(self) -> str:
        return self.route.operation

    @property
    def bucket(self) -> str:
        """The bucket as the request named it: ``ticket-<id>``, or the ticket's public bucket."""
        return self.route.bucket or bucket_name(self.ticket)

    @property
    def folder(self) -> bool:
        """Whether the key is a folder marker (``dir/``) and :attr:`path` the collection it names."""
        key = self.route.key or ""
        return len(key) > 1 and key.endswith("/") and self.ticket.target_kind is TargetKind.COLLECTION

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Decision:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bucket_name(ticket: Ticket) -> str:
    """The S3 bucket of a ticket."""
    return f"ticket-{ticket.id}"


def _access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", 403, message)


def _check_bucket(ticket: Ticket, bucket: str | None) -> None:
    if bucket is None or bucket == bucket_name(ticket):
        return
    if _TICKET_BUCKET.fullmatch(bucket):
        # Another ticket's bucket (or one that does not exist): S3 does not say which to a stranger.
        raise _access_denied("Access Denied: this key is bound to another bucket.")
    raise S3Error("NoSuchBucket", 404, "The specified bucket does not exist.", details={"BucketName": bucket})


def object_path(ticket: Ticket, key: str, *, for_write: bool = False, folders: bool = False) -> str:
    """The logical path of object ``key`` in the ticket's bucket.

    A key ending in ``/`` (an S3 "folder marker") names no data object: with ``folders`` (operations whose
    table row has ``folder_keys``) and a collection ticket it names the collection without the slash;
    otherwise ``NoSuchKey``, or ``InvalidArgument`` ``for_write``.

    Collection ticket: ``key`` joined under the collection (no empty, ``.`` or ``..`` segment, no control
    character, within the path length limit). Data-object ticket: the bucket holds exactly the object's
    basename. Raises ``S3Error``: ``InvalidArgument``/``KeyTooLong`` for keys the gateway refuses,
    ``NoSuchKey`` for any other key of a data-object ticket.
    """
    if len(key) > 1 and key.endswith("/"):
        # A "folder marker" key: a collection, refused or absent, but never the object without the slash.
        path = object_path(ticket, key[:-1])
        if folders and ticket.target_kind is TargetKind.COLLECTION:
            return path
        if for_write:
            raise S3Error("InvalidArgument", 400, "Keys ending in '/' (folder markers) cannot be written: "
                          "only PutObject with an empty body creates the collection.", details={"ArgumentName": "key"})
        raise S3Error("NoSuchKey", 404, "The specified key does not exist.", details={"Key": key})
    if ticket.target_kind is TargetKind.DATA_OBJECT:
        if key == paths.basename(ticket.path):
            return ticket.path
        raise S3Error("NoSuchKey", 404, "The specified key does not exist.", details={"Key": key})
    if not key:
        raise S3Error("InvalidArgument", 400, "The object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) + len(ticket.path.encode("utf-8")) + 1 > paths.MAX_PATH_BYTES:
        raise S3Error("KeyTooLong", 400, "Your key is too long.")
    try:
        return paths.join(ticket.path, key)
    except TicketBoothError as err:
        raise S3Error("InvalidArgument", 400,
                      "Object keys must not contain empty, '.' or '..' segments or control characters.",
                      details={"ArgumentName": "key"}) from err


def copy_source(ticket: Ticket, header: str) -> str:
    """The logical path of the data object ``x-amz-copy-source`` names (``[/]bucket/key``, percent-encoded),
    which must lie in the ticket's own bucket, as any key does.

    Raises ``S3Error``: ``InvalidArgument`` (malformed), ``NotImplemented`` (a ``versionId``: no versions
    are kept), ``AccessDenied``/``NoSuchBucket`` (another bucket), and whatever :func:`object_path` raises.
    """
    raw_path, _, query = header.strip().partition("?")
    if query and "versionId" in parse_query_params(query):
        raise S3Error("NotImplemented", 501, "This gateway keeps no object versions: a versionId in "
                      "x-amz-copy-source cannot be honoured.", details={"Header": "x-amz-copy-source"})
    bucket, slash, key = decode_component(raw_path.lstrip("/"), "copy source").partition("/")
    if not bucket or not slash or not key:
        raise S3Error("InvalidArgument", 400, "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", details={"ArgumentName": "x-amz-copy-source"})
    _check_bucket(ticket, bucket)
    return object_path(ticket, key)


def _refuse_encryption(parts: RequestParts, params: Mapping[str, str]) -> None:
    """``501 NotImplemented`` for any server-side-encryption header or presigned query parameter.

    Checked after the signature and before the session opens: nothing is stored and no use is counted.
    """
    names = [name.lower() for name, _ in parts.headers]
    names += [name.lower() for name in params]
    for name in names:
        if name.startswith(_ENCRYPTION_PREFIXES):
            raise S3Error("NotImplemented", 501, "Server-side encryption is not supported by this gateway; "
                          "objects are stored as sent.", details={"Header": name[:64]})


def _client_host(parts: RequestParts, settings: Settings) -> str | None:
    return client_address(parts.remote_addr, parts.header_values("x-forwarded-for"),
                          settings.gateway.trusted_proxies)


def _grant(ticket: Ticket, holder: str, the_route: Route, *, backend: TicketBackend, settings: Settings,
           client_host: str | None, now: datetime, auth: Any = None, access_key_id: str | None = None,
           window: float = 0.0) -> Decision:
    _check_bucket(ticket, the_route.bucket)
    operation = BY_NAME[the_route.operation]
    action = operation.action
    target = ticket.path if the_route.key is None else object_path(
        ticket, the_route.key, for_write=action == "write", folders=operation.folder_keys)
    if not policy.action_allowed(ticket, action):
        raise _access_denied(f"Access Denied: a {ticket.access.value} ticket does not allow {action}.")
    # Expiry, uses, allow-lists and hosts are judged by open_session (its contract), on the ticket as the
    # catalogue holds it now rather than this possibly cached copy: judging them here as well cost a group
    # lookup per request for no decision of its own.
    session = backend.open_session(ticket, holder, client_host=client_host, now=now, window=window)
    return Decision(ticket=ticket, holder=holder, route=the_route, path=target, action=action,
                    client_host=client_host, session=session, auth=auth, access_key_id=access_key_id)


def authorize(
    request_parts: RequestParts,
    *,
    resolver: KeyResolver,
    backend: TicketBackend,
    settings: Settings,
    now: datetime,
    max_skew: int = 900,
) -> Decision:
    """Authorize one S3 request and open its data session (counting one use of the ticket).

    Raises ``ticketbooth.sigv4`` ``S3AuthError`` (signature, key, time and framing errors), :class:`S3Error`
    (addressing, routing, key and action refusals) or ``ticketbooth.errors`` ``TicketBoothError`` (ticket
    unusable, backend failures); :func:`.errors.to_s3_error` maps each onto the S3 answer.
    """
    parts = request_parts
    host = parts.header("host")
    query = Query.parse(parts.query_string)  # split once: routing and verification share it
    located = locate(parts.method, parts.raw_path, query, host=host, base_domain=settings.gateway.base_domain)
    try:
        result = verify(parts.method, parts.raw_path, query, list(parts.headers), parts.body,
                        resolver.secret_for, now=now, max_skew=max_skew,
                        virtual_host_bucket=located.bucket if located.style == "virtual" else None)
    except AnonymousRequest:
        ticket_string = public_ticket_string(located.bucket)
        if ticket_string is None:
            raise  # unsigned requests read public buckets only
        return _authorize_public(parts, located, ticket_string, backend=backend, settings=settings, now=now)
    resolved = resolver(result.access_key_id)
    if resolved is None:  # the ticket went away between the two lookups
        raise TicketNotFound()
    lowered = {name.lower(): value for name, value in parts.headers}
    the_route = resolve(parts.method, located, lowered)
    region = getattr(result, "region", None)
    if region and region != settings.s3.region and not (
        region == "us-east-1" and the_route.operation in _ANY_REGION_OPERATIONS
    ):
        raise AuthorizationHeaderMalformed(
            f"the region '{region}' is wrong; expecting '{settings.s3.region}'", Region=settings.s3.region
        )
    _refuse_encryption(parts, located.params)
    return _grant(resolved.ticket, resolved.holder, the_route, backend=backend, settings=settings,
                  client_host=_client_host(parts, settings), now=now, auth=result,
                  access_key_id=result.access_key_id, window=settings.s3.use_window)


def _authorize_public(parts: RequestParts, located: Route, ticket_string: str, *, backend: TicketBackend,
                      settings: Settings, now: datetime) -> Decision:
    """An unsigned request to a public bucket: read-only operations on a live anonymous ticket's data, one use
    per request as for links. Anything else is the ``AccessDenied`` every unsigned request gets."""
    ticket = backend.find_ticket_by_string(ticket_string)
    if ticket is None or not ticket.anonymous:
        raise AnonymousRequest("the request carries no authentication")
    the_route = resolve(parts.method, located, {name.lower(): value for name, value in parts.headers})
    if the_route.operation not in PUBLIC_OPERATIONS:
        raise _access_denied("Access Denied: public buckets are read-only.")
    _refuse_encryption(parts, located.params)
    decision = _grant(ticket, policy.ANONYMOUS_USER, replace(the_route, bucket=bucket_name(ticket)),
                      backend=backend, settings=settings, client_host=_client_host(parts, settings), now=now)
    return replace(decision, route=the_route)


def authorize_link(
    ticket_string: str,
    relative: str,
    *,
    method: str,
    backend: TicketBackend,
    settings: Settings,
    client_host: str | None,
    now: datetime,
) -> Decision:
    """Authorize an anonymous-link request ``GET|HEAD /_t/<ticket_string>/<relative>`` and open its session.

    ``relative`` is the decoded path below the ticket's target (``""`` or ending in ``/`` for a collection
    listing). Only anonymous tickets are served; any other string is ``TicketNotFound``. The decision's route
    is ``GetObject``/``HeadObject`` (or ``ListObjectsV2`` for a listing) on the ticket's bucket.
    """
    ticket = backend.find_ticket_by_string(ticket_string) if ticket_string else None
    if ticket is None or not ticket.anonymous:
        raise TicketNotFound()
    method = method.upper()
    if method not in ("GET", "HEAD"):
        raise S3Error("MethodNotAllowed", 405, "Anonymous links accept GET and HEAD only.")
    listing = relative == "" or relative.endswith("/")
    if ticket.target_kind is TargetKind.DATA_OBJECT and relative == "":
        relative = paths.basename(ticket.path)
        listing = False
    key = relative.rstrip("/") if listing else relative
    operation = "ListObjectsV2" if listing else ("GetObject" if method == "GET" else "HeadObject")
    the_route = Route(operation=operation, bucket=bucket_name(ticket), key=key or None)
    if listing and key:
        # A listing below the root: address the sub-collection, but act as a listing (action "list").
        target = object_path(ticket, key)
        decision = _grant(ticket, policy.ANONYMOUS_USER, Route(operation, bucket_name(ticket)), backend=backend,
                          settings=settings, client_host=client_host, now=now)
        return Decision(ticket=decision.ticket, holder=decision.holder, route=the_route, path=target,
                        action=decision.action, client_host=client_host, session=decision.session)
    return _grant(ticket, policy.ANONYMOUS_USER, the_route, backend=backend, settings=settings,
                  client_host=client_host, now=now)
