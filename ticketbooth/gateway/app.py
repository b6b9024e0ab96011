"""The reference S3 gateway as a WSGI application: S3 operations, anonymous ``/_t/`` links, and the probes
``/_healthz`` (the process serves) and ``/_readyz`` (the backend can serve; 503 with ``Retry-After`` otherwise).

Plain WSGI with werkzeug's helpers for headers and responses; the request path is taken raw
(``RAW_URI``/``REQUEST_URI``) because SigV4 signs the path as sent. Every request is authorized by
:func:`ticketbooth.s3.access.authorize` (one use counted when granted), served by the handler its row of the
operation table (:mod:`ticketbooth.s3.operations`) names, and any error is answered by
:func:`ticketbooth.s3.errors.to_s3_error` as an S3 XML error. Bodies stream in 1 MiB chunks both ways, but for
a local file's bytes (a whole object or a range of one), which go to the server's ``wsgi.file_wrapper``
(gunicorn: ``sendfile``).
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, quote

from werkzeug.wrappers import Response
from werkzeug.wsgi import ClosingIterator, get_input_stream

from .. import __version__, logredact, paths
from ..audit import AuditStore, AuditTrail
from ..backends.base import ObjectInfo, ObjectLayout, TicketBackend
from ..backends.instrumented import instrument
from ..errors import (
    Conflict,
    PathNotFound,
    TicketBoothError,
    TicketExhausted,
    TicketExpired,
    TicketNotFound,
    TicketUnusable,
)
from ..logs import current_request, new_request_id
from ..metrics import count_key_lookup
from ..metricsapp import ROUTE_KEY, MetricsMiddleware
from ..model import TargetKind
from ..resolver import KeyResolver
from ..responseheaders import is_scriptable, security_headers
from ..s3.access import Decision, RequestParts, authorize, authorize_link, copy_source, object_path
from ..s3.clientaddr import client_address
from ..s3.decisions import REFUSED_ROUTE, DecisionLog
from ..s3.errors import S3Error, to_s3_error
from ..s3.operations import OPERATIONS
from ..s3.routing import decode_component, virtual_bucket
from ..settings import Settings
from ..sigv4 import content_checks, with_content_checks
from ..spool import UploadBody
from . import metadata, objectchecksums, s3xml
from .conditions import evaluate, http_date
from .disposition import content_disposition, inline_type
from .fileslice import file_slice
from .linkpage import LinkEntry, listing_page, message_page
from .listing import decode_token, encode_token, paginate, parse_max_keys
from .multipart import MAX_PART_NUMBER, SWEEP_INTERVAL, MultipartStore, upload_can_complete
from .numbers import parse_decimal
from .ranges import parse_range, part_range
from .socketbody import direct_input
from .ziparchive import ZipMember, stream_zip

__all__ = ["GatewayApp", "create_gateway_app", "CHUNK_BYTES", "HEALTH_PATH", "MAX_PUT_SIZE", "READY_PATH"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MAX_PUT_SIZE = 5 * 1024**3
LINK_PREFIX = "/_t/"
#: The gateway's own probes, for load balancers (no authentication). An ``_`` never starts a valid bucket name, so
#: path-style these can never be S3; on a virtual-hosted name (``<bucket>.<base_domain>``) they stay object keys.
HEALTH_PATH = "/_healthz"
READY_PATH = "/_readyz"
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """``(raw path, raw query)`` as sent by the client.

    gunicorn sets ``RAW_URI``, werkzeug's server ``REQUEST_URI``/``RAW_URI``; otherwise ``PATH_INFO`` (already
    decoded by the server) is re-encoded, which is exact for every path but one spelling ``%2F`` literally.
    """
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri:
        if "://" in uri.split("?", 1)[0]:  # absolute-form request target
            uri = "/" + uri.split("://", 1)[1].partition("/")[2]
        path, _, query = uri.partition("?")
        return path or "/", query
    path = quote((environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1"), safe="/-_.~")
    return path or "/", environ.get("QUERY_STRING", "")


def request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request headers as (lower-case name, value) pairs, from the WSGI environ."""
    headers = []
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers.append((name[5:].replace("_", "-").lower(), value))
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            headers.append((name.replace("_", "-").lower(), value))
    return headers


class _Body:
    """A response body of ``length`` bytes read from ``stream`` in 1 MiB chunks.

    ``close()`` (called by the WSGI server when the response ends, completed or not) closes the stream and
    then runs ``on_close`` (which ends the data session).
    """

    def __init__(self, stream: BinaryIO, length: int, on_close: Callable[[], None]) -> None:
        self._stream = stream
        self._remaining = length
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        while self._remaining > 0:
            data = self._stream.read(min(CHUNK_BYTES, self._remaining))
            if not data:
                raise OSError("the object ended before its recorded size")
            self._remaining -= len(data)
            yield data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close()
        finally:
            self._on_close()


def _header_value(name: str, value: str) -> str:
    """A ``response-*`` override as a header value; control characters (CR/LF splitting) are refused."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise S3Error("InvalidArgument", 400, f"Header value of {name} contains invalid characters",
                      details={"ArgumentName": name})
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise S3Error("InvalidArgument", 400, f"Header value of {name} must be ISO-8859-1 text",
                      details={"ArgumentName": name}) from None
    return value


def _abort_connection(environ: dict[str, Any], exc: BaseException) -> bool:
    """Log that a response body failed after its headers went out (``exc``, without the request) and shut the
    client's connection down (gunicorn's socket), so it sees a truncated response at once; ``False`` when the
    server gave no socket to shut."""
    if isinstance(exc, TicketBoothError):  # e.g. the backend went away mid-body: expected, no traceback
        log.error("response body failed after its headers were sent (%s: %s); connection aborted",
                  exc.code, exc.message)
    else:
        log.error("response body failed after its headers were sent (%s); connection aborted",
                  type(exc).__name__, exc_info=exc)
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return False
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


class _GuardedBody:
    """A response body whose failure after the headers went out is handled here, not by the server.

    A server logs such a failure with the request line (a presigned URL's signature); here it is logged
    without the request, and the connection is aborted (gunicorn's socket shut down), so the client sees a
    truncated response instead of waiting for bytes that will not come.
    """

    def __init__(self, inner: Iterable[bytes], environ: dict[str, Any]) -> None:
        self._inner = inner
        self._environ = environ

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:  # noqa: BLE001 - headers are sent: no S3 error can follow
            if not _abort_connection(self._environ, exc):
                raise

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _read_small(stream: BinaryIO, limit: int) -> bytes:
    """Read a request body of at most ``limit`` bytes to EOF (EOF is where the payload is verified)."""
    data = bytearray()
    while chunk := stream.read(CHUNK_BYTES):
        data += chunk
        if len(data) > limit:
            raise S3Error("MaxMessageLengthExceeded", 400, "Your request was too big.")
    return bytes(data)


def _object_headers(info: ObjectInfo, key: str) -> dict[str, str]:
    headers = {"Content-Type": metadata.content_type(info.metadata, key), "Accept-Ranges": "bytes"}
    headers.update(metadata.to_headers(info.metadata))
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    if info.modified_at is not None:
        headers["Last-Modified"] = http_date(info.modified_at)
    return headers


_OBJECT_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


def _checksum_headers(layout: ObjectLayout, part_number: str | None, byte_range: object) -> dict[str, str]:
    """The stored checksum for a GET/HEAD with ``x-amz-checksum-mode: ENABLED``: the object's for the whole
    object, a part's for ``?partNumber`` of a multipart object, none for a byte range (as S3)."""
    if part_number is not None and layout.parts:
        index = int(part_number) - 1
        if index < len(layout.part_checksums):
            return objectchecksums.response_headers(layout.checksum_algorithm, layout.part_checksums[index],
                                                    layout.checksum_type)
        return {}
    if byte_range is not None and part_number is None:
        return {}
    return objectchecksums.response_headers(layout.checksum_algorithm, layout.checksum, layout.checksum_type)


class _Request:
    """What a handler needs about the request beyond the decision."""

    def __init__(self, environ: dict[str, Any], headers: list[tuple[str, str]]) -> None:
        self.environ = environ
        self.method = environ["REQUEST_METHOD"].upper()
        self.headers = {name: value for name, value in reversed(headers)}  # first value wins


class GatewayApp:
    """The gateway's WSGI callable. Build it with :func:`create_gateway_app`."""

    def __init__(self, settings: Settings, backend: TicketBackend, resolver: KeyResolver,
                 clock: Callable[[], datetime], multipart: MultipartStore,
                 audit: AuditStore | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.resolver = resolver
        self.clock = clock
        self.multipart = multipart
        self._sweep_lock = threading.Lock()
        self._next_sweep: datetime | None = None
        # Every row's handler is bound now, so a row without one fails at start-up, never as a 500 later.
        self._handlers: dict[str, Callable[[Decision, _Request], Response]] = {
            op.name: getattr(self, op.handler) for op in OPERATIONS}
        self._edge = MetricsMiddleware(self._serve, "gateway", settings)
        self.decisions = DecisionLog(AuditTrail(audit, clock), resolver, backend)

    # -- multipart clean-up ----------------------------------------------------------------------------

    def sweep_multipart(self) -> list[str]:
        """Abort uploads that can never complete (see :meth:`MultipartStore.sweep`); returns what went."""
        now = self.clock()

        def keep(ticket_id: int) -> bool:
            try:
                ticket = self.backend.find_ticket(ticket_id)
            except TicketBoothError:
                return True  # the backend cannot say now: keep, judge again next time
            return ticket is not None and upload_can_complete(ticket, now)

        removed = self.multipart.sweep(now, keep)
        if removed:
            log.info("multipart clean-up removed %d item(s): %s", len(removed), "; ".join(removed[:20]))
        self._next_sweep = now + timedelta(seconds=SWEEP_INTERVAL)
        return removed

    def _maybe_sweep(self) -> None:
        if self._next_sweep is not None and self.clock() < self._next_sweep:
            return
        if self._sweep_lock.acquire(blocking=False):  # one request per process sweeps; others go on
            try:
                self.sweep_multipart()
            except Exception as exc:  # noqa: BLE001 - clean-up must never fail a request
                log.error("multipart clean-up failed: %s", type(exc).__name__, exc_info=exc)
                self._next_sweep = self.clock() + timedelta(seconds=SWEEP_INTERVAL)
            finally:
                self._sweep_lock.release()

    # -- WSGI ------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "PUT":  # an upload: its body straight from the socket, under gunicorn
            direct_input(environ)
        return self._edge(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = current_request().request_id or new_request_id()
        raw_path, query = raw_target(environ)
        if raw_path in (HEALTH_PATH, READY_PATH) and virtual_bucket(
                environ.get("HTTP_HOST"), self.settings.gateway.base_domain) is None:
            response = self._probe(environ, raw_path)
        elif raw_path.startswith(LINK_PREFIX):
            self._maybe_sweep()
            response = self._link(environ, raw_path, query)
        else:
            self._maybe_sweep()
            response = self._s3(environ, raw_path, query, request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers.setdefault("Server", "TicketBooth")
        body = None if response.is_streamed else response.get_data()
        for name, value in security_headers(response.mimetype, body).items():
            response.headers.setdefault(name, value)
        iterable = response(environ, start_response)
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(iterable, wrapper):
            return iterable  # unwrapped, or the server would not use sendfile; its errors are redacted anyway
        return _GuardedBody(iterable, environ)

    def _s3(self, environ: dict[str, Any], raw_path: str, query: str, request_id: str) -> Response:
        headers = request_headers(environ)
        parts = RequestParts(method=environ["REQUEST_METHOD"], raw_path=raw_path, query_string=query,
                             headers=headers, body=get_input_stream(environ, safe_fallback=True),
                             remote_addr=environ.get("REMOTE_ADDR"))
        resource = raw_path
        object_level = True
        decision: Decision | None = None
        try:
            decision = authorize(parts, resolver=self.resolver, backend=self.backend, settings=self.settings,
                                 now=self.clock())
            self.decisions.granted("s3", decision)
            resource, object_level = decision.route.resource, decision.route.object_level
            environ[ROUTE_KEY] = decision.operation
            response = self._handlers[decision.operation](decision, _Request(environ, headers))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an S3 error document
            if decision is not None:
                decision.close()
            else:
                environ[ROUTE_KEY] = REFUSED_ROUTE
                self.decisions.refused("s3", exc, parts=parts)
            return self._error_response(to_s3_error(exc, object_level=object_level), resource, request_id,
                                        environ["REQUEST_METHOD"])
        if not response.is_streamed:
            decision.close()
        return response

    def _probe(self, environ: dict[str, Any], raw_path: str) -> Response:
        """``/_healthz``: the process serves. ``/_readyz``: the backend answers (``check_ready``), else 503
        ``backend_unavailable`` with ``Retry-After`` — what a load balancer takes an instance out of rotation for."""
        environ[ROUTE_KEY] = raw_path
        method = environ["REQUEST_METHOD"].upper()
        status, headers = 200, {"Cache-Control": "no-store"}
        if method not in ("GET", "HEAD"):
            status, headers["Allow"] = 405, "GET, HEAD"
            body: dict[str, Any] = {"code": "method_not_allowed", "message": "method not allowed on this resource",
                                    "details": {}}
        elif raw_path == HEALTH_PATH:
            body = {"status": "ok", "version": __version__}
        else:
            unavailable = self.backend.readiness_error()
            if unavailable is None:
                body = {"status": "ready"}
            else:
                status, headers["Retry-After"] = 503, str(unavailable.retry_after)
                body = {"code": unavailable.code, "message": unavailable.message, "details": {}}
        data = b"" if method == "HEAD" else json.dumps(body).encode("utf-8")
        response = Response(data, status=status, headers=headers, content_type="application/json")
        return response

    @staticmethod
    def _error_response(error: S3Error, resource: str, request_id: str, method: str) -> Response:
        body = b"" if method.upper() == "HEAD" else error.to_xml(resource=resource, request_id=request_id)
        response = Response(body, status=error.status, content_type="application/xml")
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    # -- service and bucket ----------------------------------------------------------------------------

    @staticmethod
    def _xml(body: bytes, status: int = 200) -> Response:
        return Response(body, status=status, content_type="application/xml")

    def _op_ListBuckets(self, d: Decision, req: _Request) -> Response:
        return self._xml(s3xml.list_buckets([(d.bucket, d.ticket.created_at)], d.holder))

    def _op_CreateBucket(self, d: Decision, req: _Request) -> Response:
        raise S3Error("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket "
                      "succeeded and you already own it.", details={"BucketName": d.bucket})

    def _op_HeadBucket(self, d: Decision, req: _Request) -> Response:
        self._stat_root(d)
        response = Response(b"", status=200)
        response.headers["x-amz-bucket-region"] = self.settings.s3.region
        return response

    def _op_GetBucketLocation(self, d: Decision, req: _Request) -> Response:
        self._stat_root(d)
        return self._xml(s3xml.bucket_location(self.settings.s3.region))

    @staticmethod
    def _stat_root(d: Decision) -> ObjectInfo:
        try:
            return d.session.stat(d.ticket.path)
        except PathNotFound:
            raise S3Error("NoSuchBucket", 404, "The specified bucket does not exist.",
                          details={"BucketName": d.bucket}) from None

    def _entries(self, d: Decision, prefix: str, delimiter: str | None, marker: str | None,
                 ) -> Iterator[tuple[str, ObjectInfo]]:
        """(key, info) of the ticket's bucket in key order, starting near ``marker`` and ``prefix``."""
        ticket = d.ticket
        if ticket.target_kind is TargetKind.DATA_OBJECT:
            info = self._stat_root(d)
            yield paths.basename(ticket.path), info
            return
        root = ticket.path
        # Start from the deepest collection the prefix names, when it names one validly.
        base = prefix.rpartition("/")[0]
        try:
            collection = paths.join(root, base) if base else root
        except TicketBoothError:
            return  # no key with this prefix can exist
        start_after = None
        if marker:
            start_after = root + "/" + marker
        try:
            if delimiter == "/":
                items = d.session.list(collection, recursive=False, start_after=start_after)
            else:
                items = d.session.list(collection, recursive=True, start_after=start_after)
            empty = True
            for info in items:
                empty = False
                key = paths.relative_to(root, info.path)
                yield (key + "/" if info.is_collection else key), info
            if empty and base and prefix == base + "/" and (marker is None or marker < prefix):
                # Listing "dir/" of an empty collection shows its folder marker, as S3 shows a "dir/" object
                # (pyarrow and s3fs decide "is a directory" from it).
                info = d.session.stat(collection)
                if info.is_collection and not any(True for _ in d.session.list(collection, recursive=False)):
                    yield prefix, info
        except PathNotFound:
            if collection == root:
                raise S3Error("NoSuchBucket", 404, "The specified bucket does not exist.",
                              details={"BucketName": d.bucket}) from None
            return

    def _list_params(self, req_params: dict[str, str]) -> tuple[str, str | None, str | None, int]:
        encoding = req_params.get("encoding-type")
        if encoding not in (None, "url"):
            raise S3Error("InvalidArgument", 400, "Invalid Encoding Method specified in Request",
                          details={"ArgumentName": "encoding-type"})
        delimiter = req_params.get("delimiter") or None
        return req_params.get("prefix", ""), delimiter, encoding, parse_max_keys(req_params.get("max-keys"))

    def _op_ListObjectsV2(self, d: Decision, req: _Request) -> Response:
        params = dict(d.route.params)
        prefix, delimiter, encoding, max_keys = self._list_params(params)
        token = params.get("continuation-token")
        start_after = params.get("start-after") or None
        marker = decode_token(token) if token is not None else start_after
        page = paginate(self._entries(d, prefix, delimiter, marker), prefix=prefix, delimiter=delimiter,
                        marker=marker, max_keys=max_keys)
        body = s3xml.list_objects(
            version=2, bucket=d.bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
            encoding_type=encoding, holder=d.holder, is_truncated=page.is_truncated,
            contents=[_listed(k, i) for k, i in page.contents],
            common_prefixes=page.common_prefixes, continuation_token=token, start_after=start_after,
            next_continuation_token=encode_token(page.last) if page.is_truncated and page.last else None,
            fetch_owner=params.get("fetch-owner") == "true",
        )
        return self._xml(body)

    def _op_ListObjectsV1(self, d: Decision, req: _Request) -> Response:
        params = dict(d.route.params)
        prefix, delimiter, encoding, max_keys = self._list_params(params)
        marker = params.get("marker", "")
        page = paginate(self._entries(d, prefix, delimiter, marker or None), prefix=prefix, delimiter=delimiter,
                        marker=marker or None, max_keys=max_keys)
        body = s3xml.list_objects(
            version=1, bucket=d.bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
            encoding_type=encoding, holder=d.holder, is_truncated=page.is_truncated, marker=marker,
            contents=[_listed(k, i) for k, i in page.contents],
            common_prefixes=page.common_prefixes,
            next_marker=page.last if page.is_truncated and delimiter else None,
        )
        return self._xml(body)

    # -- objects ---------------------------------------------------------------------------------------

    def _stat_object(self, d: Decision) -> ObjectInfo:
        info = d.session.stat(d.path)
        if d.folder:
            if not info.is_collection:  # "dir/" never names the data object "dir"
                raise PathNotFound()
            # A folder marker reads as the empty object S3 clients created with PUT "dir/".
            return ObjectInfo(info.path, False, 0, info.modified_at, EMPTY_MD5, None)
        if info.is_collection:
            raise PathNotFound()
        return info

    def _op_GetObjectAttributes(self, d: Decision, req: _Request) -> Response:
        wanted = {name.strip() for name in req.headers.get("x-amz-object-attributes", "").split(",") if name.strip()}
        if not wanted or wanted - _OBJECT_ATTRIBUTES:
            raise S3Error("InvalidArgument", 400, "Invalid attribute name specified.",
                          details={"ArgumentName": "x-amz-object-attributes"})
        info = self._stat_object(d)
        layout = info.layout
        checksum = None
        if layout is not None and layout.checksum_algorithm and layout.checksum and layout.checksum_type:
            checksum = (layout.checksum_algorithm, layout.checksum, layout.checksum_type)
        response = self._xml(s3xml.object_attributes(
            wanted, etag=info.etag, size=info.size, parts=layout.parts if layout else (), checksum=checksum,
            part_checksums=layout.part_checksums if layout else ()))
        if info.modified_at is not None:
            response.headers["Last-Modified"] = http_date(info.modified_at)
        return response

    def _op_HeadObject(self, d: Decision, req: _Request) -> Response:
        return self._op_GetObject(d, req)

    def _op_GetObject(self, d: Decision, req: _Request) -> Response:
        info = self._stat_object(d)
        return self._send_object(d, req, info, d.route.key or "", dict(d.route.params))

    def _send_object(self, d: Decision, req: _Request, info: ObjectInfo, key: str, params: dict[str, str],
                     extra: dict[str, str] | None = None) -> Response:
        headers = _object_headers(info, key)
        headers.update(extra or {})
        outcome = evaluate(req.headers, info.etag, info.modified_at, method=req.method)
        if outcome == 304:
            response = Response(status=304)
            for name in ("ETag", "Last-Modified"):
                if name in headers:
                    response.headers[name] = headers[name]
            return response
        if outcome == 412:
            raise S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not "
                          "hold", details={"Condition": "If-Match" if "if-match" in req.headers
                                           else "If-Unmodified-Since"})
        if "partNumber" in params:
            if "range" in req.headers:
                raise S3Error("InvalidRequest", 400, "Cannot specify both Range header and partNumber query "
                              "parameter.")
            byte_range, parts_count = part_range(params["partNumber"], info.layout.parts if info.layout else (),
                                                 info.size)
            if parts_count is not None:
                headers["x-amz-mp-parts-count"] = str(parts_count)
        else:
            byte_range = parse_range(req.headers.get("range"), info.size)
        if req.headers.get("x-amz-checksum-mode", "").strip().upper() == "ENABLED" and info.layout is not None:
            headers.update(_checksum_headers(info.layout, params.get("partNumber"), byte_range))
        for name, header in _RESPONSE_OVERRIDES.items():
            if name in params:
                headers[header] = _header_value(name, params[name])
        if is_scriptable(headers.get("Content-Type")) and not headers.get(
                "Content-Disposition", "").lower().startswith("attachment"):
            # HTML/SVG/XML from a shared bucket must not run script on the gateway's origin: download it.
            headers["Content-Disposition"] = content_disposition(paths.basename(d.path), inline=False)
        status, start, length = 200, 0, info.size
        if byte_range is not None:
            status, start, length = 206, byte_range.start, byte_range.length
            headers["Content-Range"] = byte_range.content_range
        if req.method == "HEAD":
            response = Response(b"", status=status, headers=headers)
            response.headers["Content-Length"] = str(length)
            return response
        if length == 0:
            return Response(b"", status=status, headers=headers)
        stream = d.session.open_read(d.path)
        response = Response(self._body(req.environ, stream, start, length, d.close), status=status,
                            headers=headers, direct_passthrough=True)
        response.headers["Content-Length"] = str(length)
        return response

    @staticmethod
    def _body(environ: dict[str, Any], stream: BinaryIO, start: int, length: int,
              on_close: Callable[[], None]) -> Iterable[bytes]:
        """The response body: ``length`` bytes of ``stream`` from ``start`` (the whole object or a range). A local
        file goes to the server's ``wsgi.file_wrapper`` as a :class:`FileSlice` (gunicorn: ``sendfile`` of just
        those bytes); any other stream, or a server without a wrapper (werkzeug's), is read in 1 MiB chunks.
        Either way ``close()`` ends the data session."""
        wrapper_class = environ.get("wsgi.file_wrapper")
        body = file_slice(stream, start, length) if wrapper_class is not None else None
        if body is None:
            if start:
                stream.seek(start)
            return _Body(stream, length, on_close)
        wrapper = wrapper_class(body, CHUNK_BYTES)
        close_file = getattr(wrapper, "close", body.close)

        def close() -> None:
            try:
                if not body.complete and not body.failed and body.shrunk():
                    # sendfile stopped silently at the end of a file that shrank under the download: say so, and
                    # abort the connection, or the client waits for the missing bytes until the keep-alive ends.
                    _abort_connection(environ, OSError("the object ended before its recorded size"))
            finally:
                try:
                    close_file()
                finally:
                    on_close()

        wrapper.close = close
        return wrapper  # type: ignore[no-any-return]

    def _conditional_write(self, d: Decision, req: _Request) -> None:
        if "if-none-match" not in req.headers and "if-match" not in req.headers:
            return
        try:
            info: ObjectInfo | None = self._stat_object(d)
        except PathNotFound:
            info = None
        if "if-none-match" in req.headers and req.headers["if-none-match"].strip() == "*" and info is not None:
            raise S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold",
                          details={"Condition": "If-None-Match"})
        if "if-match" in req.headers:
            if info is None:
                raise S3Error("NoSuchKey", 404, "The specified key does not exist.")
            if evaluate({"if-match": req.headers["if-match"]}, info.etag, info.modified_at, method="PUT"):
                raise S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did "
                              "not hold", details={"Condition": "If-Match"})

    def _op_PutObject(self, d: Decision, req: _Request) -> Response:
        size = d.auth.decoded_content_length
        if size is not None and size > MAX_PUT_SIZE:
            raise S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size",
                          details={"MaxSizeAllowed": str(MAX_PUT_SIZE)})
        if size is None and "content-length" not in req.headers and "x-amz-decoded-content-length" not in req.headers:
            raise S3Error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
        stored = metadata.from_headers(req.headers)
        if d.folder:
            return self._put_folder(d, req, size)
        self._conditional_write(d, req)
        algorithm = objectchecksums.requested(req.headers)
        body = self._upload_body(d, req, algorithm)
        info = d.session.write(d.path, body, size=size, metadata=stored)  # type: ignore[arg-type]
        response = Response(b"", status=200)
        etag = info.etag or body.md5_hex
        response.headers["ETag"] = f'"{etag}"'
        value = body.checksum(algorithm) if algorithm else None
        if algorithm and value:
            # Keep the checksum with the object (HEAD/GET with x-amz-checksum-mode: ENABLED) and echo it.
            d.session.set_layout(d.path, ObjectLayout(body.md5_hex, info.size, etag, checksum_algorithm=algorithm,
                                                      checksum=value, checksum_type="FULL_OBJECT"))
            response.headers.update(objectchecksums.response_headers(algorithm, value, "FULL_OBJECT"))
        return response

    @staticmethod
    def _upload_body(d: Decision, req: _Request, algorithm: str | None) -> UploadBody:
        """The verified body of a PutObject/UploadPart, hashed while the backend spools it: the MD5, the
        ``Content-MD5``/``x-amz-checksum-*`` checks the headers announce and ``algorithm``'s value to keep."""
        return UploadBody(d.auth.body, checks=content_checks(list(req.headers.items())), keep=algorithm,
                          verified_trailer=d.auth.checksum_algorithm)

    @staticmethod
    def _put_folder(d: Decision, req: _Request, size: int | None) -> Response:
        """``PUT dir/`` with an empty body: the collection, created explicitly (S3 clients' "create folder")."""
        if size:
            raise _folder_with_data()
        try:  # read to EOF: that is where the (empty) payload is verified
            _read_small(with_content_checks(d.auth.body, list(req.headers.items())), 0)
        except S3Error as err:
            if err.code == "MaxMessageLengthExceeded":
                raise _folder_with_data() from None
            raise
        d.session.make_collection(d.path)
        response = Response(b"", status=200)
        response.headers["ETag"] = f'"{EMPTY_MD5}"'
        return response

    def _op_CopyObject(self, d: Decision, req: _Request) -> Response:
        source = copy_source(d.ticket, req.headers["x-amz-copy-source"])
        directive = req.headers.get("x-amz-metadata-directive", "COPY").strip().upper()
        if directive not in ("COPY", "REPLACE"):
            raise S3Error("InvalidArgument", 400, "Unknown metadata directive.",
                          details={"ArgumentName": "x-amz-metadata-directive"})
        if source == d.path and directive == "COPY":
            raise S3Error("InvalidRequest", 400, "This copy request is illegal because it is trying to copy an "
                          "object to itself without changing the object's metadata, storage class, website "
                          "redirect location or encryption attributes.")
        replaced = metadata.from_headers(req.headers) if directive == "REPLACE" else None
        kept = self._copy_source_info(d, req, source).layout
        algorithm = objectchecksums.requested(req.headers) or (kept.checksum_algorithm if kept else None)
        self._conditional_write(d, req)
        info = d.session.copy(source, d.path, metadata=replaced)
        etag, checksum = self._copied_layout(d, info, algorithm, kept)
        return self._xml(s3xml.copy_result("CopyObjectResult", etag or "", info.modified_at, checksum))

    @staticmethod
    def _copied_layout(d: Decision, info: ObjectInfo, algorithm: str | None, source: ObjectLayout | None
                       ) -> tuple[str | None, tuple[str, str, str] | None]:
        """AWS makes a CopyObject a new single-part object: its ETag is the content's MD5 (not a multipart
        source's ``-N`` one), and it has a ``FULL_OBJECT`` checksum with the source's algorithm, or the one
        ``x-amz-checksum-algorithm`` names, computed over the copy. Returns (ETag, checksum or ``None``).
        The copy holds the source's bytes, so a source's own ``FULL_OBJECT`` checksum of that algorithm is the
        copy's; only another checksum needs the copy's bytes read back (through the gateway, on iRODS too)."""
        if (algorithm is not None and source is not None and source.checksum_type == "FULL_OBJECT"
                and source.checksum_algorithm == algorithm and source.checksum and source.size == info.size):
            value = source.checksum
            kept = d.session.set_layout(d.path, ObjectLayout(source.md5, source.size, source.md5,
                                                             checksum_algorithm=algorithm, checksum=value,
                                                             checksum_type="FULL_OBJECT"))
            return (source.md5 if kept else info.etag), (algorithm, value, "FULL_OBJECT")
        layout = info.layout
        if layout is None and info.etag and "-" in info.etag:  # a backend's copy may report no layout
            layout = d.session.stat(d.path).layout
        if algorithm is None:
            if layout is None or not layout.parts:
                return info.etag, None
            single = ObjectLayout(layout.md5, layout.size, layout.md5)
            return (layout.md5 if d.session.set_layout(d.path, single) else info.etag), None
        with d.session.open_read(d.path) as stream:
            read = _hashed(stream, algorithm)  # the MD5 and the checksum in one pass
        value = read.checksum(algorithm) or ""
        kept = d.session.set_layout(d.path, ObjectLayout(read.md5_hex, read.size, read.md5_hex,
                                                         checksum_algorithm=algorithm, checksum=value,
                                                         checksum_type="FULL_OBJECT"))
        return (read.md5_hex if kept else info.etag), (algorithm, value, "FULL_OBJECT")

    def _copy_source_info(self, d: Decision, req: _Request, source: str) -> ObjectInfo:
        """The copy source's info once its ``x-amz-copy-source-if-*`` conditions hold (``412`` otherwise)."""
        info = d.session.stat(source)
        if info.is_collection:
            raise S3Error("NoSuchKey", 404, "The specified key does not exist.")
        conditions = {name[len("x-amz-copy-source-"):]: value for name, value in req.headers.items()
                      if name.startswith("x-amz-copy-source-if-")}
        # S3 answers every failed copy-source condition with 412 (a copy is never "not modified").
        if evaluate(conditions, info.etag, info.modified_at, method="GET") is not None:
            raise S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not "
                          "hold", details={"Condition": "x-amz-copy-source-If-*"})
        return info

    def _op_DeleteObject(self, d: Decision, req: _Request) -> Response:
        self._delete_key(d, d.path, folder=d.folder)
        return Response(b"", status=204)

    @staticmethod
    def _delete_key(d: Decision, path: str, *, folder: bool) -> None:
        """Delete the object (or, for a folder marker, the empty collection) at ``path``; a missing one, or a
        marker whose collection still holds anything, is deleted as far as S3 is concerned (nothing removed)."""
        try:
            is_collection = d.session.stat(path).is_collection
            if folder and is_collection:
                d.session.remove_collection(path)
            elif not folder and not is_collection:
                d.session.delete(path)
        except (PathNotFound, Conflict):
            pass  # S3: deleting a missing key succeeds

    def _op_DeleteObjects(self, d: Decision, req: _Request) -> Response:
        body = _read_small(with_content_checks(d.auth.body, list(req.headers.items())), s3xml.MAX_REQUEST_XML)
        quiet, keys = s3xml.parse_delete(body)
        deleted, errors = [], []
        # Folder markers last, deepest first: "dir/" can go only once the objects below it have.
        order = sorted(range(len(keys)), key=lambda i: (keys[i].endswith("/"), -keys[i].count("/")))
        for key in [keys[i] for i in order]:
            try:
                path = object_path(d.ticket, key, folders=True)
                self._delete_key(d, path, folder=len(key) > 1 and key.endswith("/")
                                 and d.ticket.target_kind is TargetKind.COLLECTION)
                deleted.append(key)
            except S3Error as err:
                if err.code == "NoSuchKey":  # a data-object ticket's other keys never exist
                    deleted.append(key)
                else:
                    errors.append((key, err.code, err.message))
            except TicketBoothError as exc:
                err = to_s3_error(exc)
                errors.append((key, err.code, err.message))
        return self._xml(s3xml.delete_result(deleted, errors, quiet=quiet))

    # -- multipart -------------------------------------------------------------------------------------

    def _upload(self, d: Decision) -> Any:
        return self.multipart.get(d.ticket.id, d.route.key or "", d.route.params.get("uploadId", ""), d.holder)

    def _op_CreateMultipartUpload(self, d: Decision, req: _Request) -> Response:
        stored = metadata.from_headers(req.headers)
        self._conditional_write(d, req)
        ticket = d.session.ticket  # as the session judged it now, not as the key cache remembers it
        files_left = ticket.write_file_limit - ticket.write_file_count if ticket.write_file_limit else None
        checksum = objectchecksums.upload_checksum(req.headers)
        upload = self.multipart.create(d.ticket.id, d.route.key or "", d.holder, self.clock(),
                                       write_files_left=files_left, metadata=stored, checksum=checksum)
        response = self._xml(s3xml.initiate_multipart(d.bucket, upload.key, upload.upload_id))
        if checksum is not None:
            response.headers["x-amz-checksum-algorithm"], response.headers["x-amz-checksum-type"] = checksum
        return response

    @staticmethod
    def _part_number(d: Decision) -> int:
        number = parse_decimal(d.route.params.get("partNumber"), cap=MAX_PART_NUMBER + 1)
        if number is None:
            raise S3Error("InvalidArgument", 400, "Part number must be an integer between 1 and 10000, inclusive",
                          details={"ArgumentName": "partNumber"})
        return number

    @staticmethod
    def _part_budget(d: Decision) -> int | None:
        """The bytes the ticket may still write (``None``: no limit), as the session judged it now."""
        ticket = d.session.ticket
        return max(ticket.write_byte_limit - ticket.write_byte_count, 0) if ticket.write_byte_limit else None

    def _op_UploadPartCopy(self, d: Decision, req: _Request) -> Response:
        upload = self._upload(d)
        number = self._part_number(d)
        source = copy_source(d.ticket, req.headers["x-amz-copy-source"])
        info = self._copy_source_info(d, req, source)
        start, length = _copy_range(req.headers.get("x-amz-copy-source-range"), info.size)
        algorithm = upload.checksum[0] if upload.checksum else None
        with d.session.open_read(source) as stream:
            if start:
                stream.seek(start)
            body = UploadBody(_Limited(stream, length), keep=algorithm)  # type: ignore[arg-type]
            part = self.multipart.put_part(upload, number, body, declared=length, budget=self._part_budget(d))
        # As UploadPart echoes it: the part's checksum with the upload's algorithm, for the completion to name.
        checksum = (algorithm, body.checksum(algorithm) or "", "") if algorithm else None
        return self._xml(s3xml.copy_result("CopyPartResult", part.etag, part.modified_at, checksum))

    def _op_UploadPart(self, d: Decision, req: _Request) -> Response:
        upload = self._upload(d)
        number = self._part_number(d)
        declared = d.auth.decoded_content_length
        if declared is None:
            declared = parse_decimal(req.headers.get("content-length"))
        if declared is None:
            raise S3Error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
        algorithm = objectchecksums.requested(req.headers) or (upload.checksum[0] if upload.checksum else None)
        body = self._upload_body(d, req, algorithm)
        part = self.multipart.put_part(upload, number, body, declared=declared, budget=self._part_budget(d))
        response = Response(b"", status=200)
        response.headers["ETag"] = f'"{part.etag}"'
        if algorithm:  # echoed so that the client can name it in CompleteMultipartUpload
            response.headers.update(objectchecksums.response_headers(algorithm, body.checksum(algorithm), None))
        return response

    def _op_CompleteMultipartUpload(self, d: Decision, req: _Request) -> Response:
        upload = self._upload(d)
        body = _read_small(with_content_checks(d.auth.body, list(req.headers.items())), s3xml.MAX_REQUEST_XML)
        requested = s3xml.parse_complete(body)
        stream, size, etag = self.multipart.assemble(upload, requested)
        named, part_values = s3xml.complete_checksums(body)
        algorithm, kind = upload.checksum or ((named, "COMPOSITE") if named else (None, None))
        if named is not None and named != algorithm:
            raise S3Error("InvalidRequest", 400, f"The upload was created with the {algorithm or 'no'} checksum "
                          f"algorithm; the completion names {named} checksums.")
        checker = None
        if algorithm is not None:
            checker = objectchecksums.PartChecker(stream, stream.sizes, [n for n, _ in requested], algorithm,
                                                  part_values)
        whole = UploadBody(checker or stream)  # type: ignore[arg-type]
        with stream:
            d.session.write(d.path, whole, size=size, metadata=upload.metadata)  # type: ignore[arg-type]
        # Keep the multipart ETag, the part boundaries and the checksum: HEAD/GET/List answer that ETag,
        # ?partNumber=N a part, x-amz-checksum-mode: ENABLED the checksum.
        checksum = None
        if checker is not None and algorithm is not None and kind is not None:
            value = (checker.whole() if kind == "FULL_OBJECT"
                     else objectchecksums.composite(algorithm, checker.part_digests))
            checksum = (algorithm, value, kind)
        d.session.set_layout(d.path, ObjectLayout(
            whole.md5_hex, size, etag, parts=stream.sizes,
            checksum_algorithm=checksum and checksum[0], checksum=checksum and checksum[1],
            checksum_type=checksum and checksum[2],
            part_checksums=tuple(objectchecksums.encode(x) for x in checker.part_digests) if checker else ()))
        self.multipart.remove(upload)
        after = self.backend.find_ticket(d.ticket.id)
        if after is None or not upload_can_complete(after, self.clock()):
            self.multipart.remove_ticket(d.ticket.id)  # the ticket's write limits are used up: abort the rest
        location = f"{self.settings.s3.endpoint_url.rstrip('/')}/{d.bucket}/{quote(upload.key)}"
        return self._xml(s3xml.complete_multipart(location, d.bucket, upload.key, etag, checksum))

    def _op_AbortMultipartUpload(self, d: Decision, req: _Request) -> Response:
        self.multipart.remove(self._upload(d))
        return Response(b"", status=204)

    def _op_ListParts(self, d: Decision, req: _Request) -> Response:
        upload = self._upload(d)
        marker = parse_decimal(d.route.params.get("part-number-marker", "0") or "0")
        if marker is None:
            raise S3Error("InvalidArgument", 400, "Invalid part-number-marker",
                          details={"ArgumentName": "part-number-marker"})
        max_parts = parse_max_keys(d.route.params.get("max-parts"), "max-parts")
        parts = [p for p in self.multipart.parts(upload) if p.number > marker]
        page = parts[:max_parts]
        return self._xml(s3xml.list_parts(bucket=d.bucket, key=upload.key, upload_id=upload.upload_id,
                                          parts=page, marker=marker, max_parts=max_parts,
                                          is_truncated=len(parts) > len(page), holder=d.holder,
                                          checksum=upload.checksum, part_checksums=self._part_checksums(upload, page)))

    def _part_checksums(self, upload: Any, parts: Sequence[Any]) -> dict[int, str]:
        """Each listed part's checksum with the upload's algorithm (S3 lists them), computed from the stored
        part: parts are kept as their bytes only, and ListParts (a resuming client's call) is rare."""
        if upload.checksum is None:
            return {}
        values: dict[int, str] = {}
        for part in parts:
            try:
                with self.multipart.open_part(upload, part) as stream:
                    value = _hashed(stream, upload.checksum[0]).checksum(upload.checksum[0])
            except FileNotFoundError:
                continue  # replaced or aborted meanwhile: listed without one
            values[part.number] = value or ""
        return values

    def _op_ListMultipartUploads(self, d: Decision, req: _Request) -> Response:
        params = d.route.params
        prefix = params.get("prefix", "")
        key_marker = params.get("key-marker", "")
        id_marker = params.get("upload-id-marker", "")
        encoding = params.get("encoding-type")
        max_uploads = parse_max_keys(params.get("max-uploads"), "max-uploads")
        found = []
        for upload in self.multipart.uploads(d.ticket.id, d.holder):
            if not upload.key.startswith(prefix):
                continue
            if key_marker and (upload.key.encode() < key_marker.encode() or (
                    upload.key == key_marker and (not id_marker or upload.upload_id <= id_marker))):
                continue
            found.append(s3xml.UploadEntry(upload.key, upload.upload_id, upload.initiated))
        page = found[:max_uploads]
        return self._xml(s3xml.list_multipart_uploads(
            bucket=d.bucket, uploads=page, prefix=prefix, key_marker=key_marker,
            upload_id_marker=id_marker, max_uploads=max_uploads, is_truncated=len(found) > len(page),
            holder=d.holder, encoding_type=encoding if encoding == "url" else None))

    # -- anonymous links -------------------------------------------------------------------------------

    def _link(self, environ: dict[str, Any], raw_path: str, query: str) -> Response:
        method = environ["REQUEST_METHOD"].upper()
        download = dict(parse_qsl(query, keep_blank_values=True)).get("download")
        string, _, raw_rest = raw_path[len(LINK_PREFIX):].partition("/")
        headers = request_headers(environ)
        req = _Request(environ, headers)
        client = client_address(environ.get("REMOTE_ADDR"), [v for n, v in headers if n == "x-forwarded-for"],
                                self.settings.gateway.trusted_proxies)
        try:
            relative = _link_decode(raw_rest)
            decision = authorize_link(string, relative, method=method, backend=self.backend,
                                      settings=self.settings, client_host=client, now=self.clock())
        except Exception as exc:  # noqa: BLE001 - every refusal becomes a clear page
            environ[ROUTE_KEY] = "link:" + REFUSED_ROUTE
            self.decisions.refused("link", exc, link_string=string)
            return self._link_refusal(exc, method)
        self.decisions.granted("link", decision)
        environ[ROUTE_KEY] = "link:" + decision.operation
        try:
            if decision.route.operation == "ListObjectsV2" and not raw_path.endswith("/"):
                response = _redirect_to_slash(raw_path, query)  # /_t/<string> of a collection
            elif decision.route.operation == "ListObjectsV2":
                response = (self._link_zip(decision, method) if download == "zip"
                            else self._link_listing(decision, string, relative))
            elif (info := decision.session.stat(decision.path)).is_collection:
                response = _redirect_to_slash(raw_path, query)
            else:
                name = paths.basename(decision.path)
                # Shown in the browser where that is safe, unless ?download=...; always named for saving.
                shown = None if download else inline_type(_object_headers(info, name)["Content-Type"])
                extra = {"Content-Disposition": content_disposition(name, inline=shown is not None)}
                if shown:
                    extra["Content-Type"] = shown
                response = self._send_object(decision, req, info, name, {}, extra)
        except Exception as exc:  # noqa: BLE001
            decision.close()
            return self._link_refusal(exc, method)
        if not response.is_streamed:
            decision.close()
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def _link_listing(self, d: Decision, string: str, relative: str) -> Response:
        info = d.session.stat(d.path)
        if not info.is_collection:
            raise PathNotFound()
        entries = []
        for item in d.session.list(d.path, recursive=False):
            name = paths.basename(item.path) + ("/" if item.is_collection else "")
            entries.append(LinkEntry(name, item.is_collection, item.size, item.modified_at))
        title = paths.basename(d.ticket.path)
        page = listing_page(title, f"{LINK_PREFIX}{quote(string, safe='')}/",
                            relative if relative.endswith("/") or not relative else relative + "/", entries)
        return Response(page, status=200, content_type="text/html; charset=utf-8")

    @staticmethod
    def _link_zip(d: Decision, method: str) -> Response:
        """The collection as a zip archive, streamed as it is read (one use: the listing's)."""
        if not d.session.stat(d.path).is_collection:  # refused now, not as a broken 200 once streaming
            raise PathNotFound()
        top = paths.basename(d.path)
        headers = {"Content-Type": "application/zip",
                   "Content-Disposition": content_disposition(top + ".zip", inline=False)}
        if method == "HEAD":
            return Response(b"", headers=headers)

        def members() -> Iterator[ZipMember]:
            for item in d.session.list(d.path, recursive=True):
                if not item.is_collection:
                    yield ZipMember(f"{top}/{paths.relative_to(d.path, item.path)}", item.size, item.modified_at,
                                    functools.partial(d.session.open_read, item.path))

        archive = stream_zip(members(), chunk=CHUNK_BYTES)
        return Response(ClosingIterator(archive, [d.close]), headers=headers, direct_passthrough=True)

    def _link_refusal(self, exc: BaseException, method: str) -> Response:
        if isinstance(exc, TicketNotFound):
            status, title, text = 404, "Link not found", "This link does not exist or has been revoked."
        elif isinstance(exc, TicketExpired):
            status, title, text = 410, "Link expired", "This link has expired."
        elif isinstance(exc, TicketExhausted):
            status, title, text = 410, "Link used up", "This link has been used as often as it may be."
        elif isinstance(exc, TicketUnusable):
            status, title, text = 403, "Access denied", "This link cannot be used from here."
        else:
            error = to_s3_error(exc)
            if error.code == "InvalidRange":
                response = Response(message_page("Range not satisfiable", error.message), status=416,
                                    content_type="text/html; charset=utf-8", headers=error.headers)
                return response
            if error.code == "PreconditionFailed":
                status, title, text = 412, "Precondition failed", error.message
            elif error.status == 404:
                status, title, text = 404, "Not found", "Nothing exists at this address below the link."
            elif error.status < 500:
                status, title, text = error.status, "Bad request", error.message
            else:
                status, title, text = error.status, "Unavailable", "The service is unavailable; please retry later."
            response = Response(b"" if method == "HEAD" else message_page(title, text), status=status,
                                content_type="text/html; charset=utf-8", headers=error.headers)
            return response
        body = b"" if method == "HEAD" else message_page(title, text)
        return Response(body, status=status, content_type="text/html; charset=utf-8")


def _redirect_to_slash(raw_path: str, query: str) -> Response:
    """A collection addressed without its trailing slash: send the browser to the listing's URL."""
    return Response(b"", status=301, headers={"Location": raw_path + "/" + (f"?{query}" if query else "")})


def _listed(key: str, info: ObjectInfo) -> s3xml.ObjectEntry:
    # A folder marker (an empty collection) lists as the empty object S3 clients would have made.
    return s3xml.ObjectEntry(key, info.size, info.modified_at, info.etag or (EMPTY_MD5 if info.is_collection else None))


def _folder_with_data() -> S3Error:
    return S3Error("InvalidArgument", 400, "A key ending in '/' names a collection, which holds no data: send "
                   "an empty body to create it.", details={"ArgumentName": "key"})


_COPY_RANGE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})")


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``(start, length)`` of ``x-amz-copy-source-range`` (``bytes=first-last``, both given, as S3 requires)
    within a source of ``size`` bytes; the whole source when absent."""
    if header is None:
        return 0, size
    match = _COPY_RANGE.fullmatch(header.strip())
    if match is None or int(match.group(1)) > int(match.group(2)) or int(match.group(2)) >= size:
        raise S3Error("InvalidArgument", 400, f"Range specified is not valid for source object of size: {size}",
                      details={"ArgumentName": "x-amz-copy-source-range"})
    first, last = int(match.group(1)), int(match.group(2))
    return first, last - first + 1


class _Limited:
    """At most ``length`` bytes of ``raw`` (an UploadPartCopy range)."""

    def __init__(self, raw: BinaryIO, length: int) -> None:
        self._raw = raw
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(size)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True


def _hashed(stream: BinaryIO, algorithm: str) -> UploadBody:
    """``stream`` read to its end through an :class:`UploadBody` keeping ``algorithm``: its size, MD5 and
    checksum, computed in one pass (what is read is not kept)."""
    body = UploadBody(stream, keep=algorithm)
    buffer = bytearray(CHUNK_BYTES)
    while body.readinto(buffer):
        pass
    return body


def _link_decode(raw: str) -> str:
    return decode_component(raw, "link path") if raw else ""


def create_gateway_app(settings: Settings | None = None, *, backend: TicketBackend | None = None,
                       clock: Callable[[], datetime] | None = None, min_part_size: int | None = None) -> GatewayApp:
    """Build the gateway WSGI app from ``settings`` (default: ``load_settings()``).

    ``backend`` defaults to ``load_backend(settings)``; ``clock`` (UTC-aware) to the system clock;
    ``min_part_size`` to S3's 5 MiB (tests lower it). The key resolver uses the backend's master key (embedded:
    ``backend.master_key()``) or ``settings.s3.master_key``.
    """
    from ..backends import load_backend
    from ..errors import ConfigError
    from ..settings import load_settings

    logredact.install()  # whatever server runs us: no signature or link string in any log line
    settings = settings or load_settings()
    backend = instrument(backend or load_backend(settings))
    clock = clock or _utcnow
    master_key_of = getattr(backend, "master_key", None)
    if callable(master_key_of):
        master = master_key_of()
    elif settings.s3.master_key:
        master = settings.s3.master_key.encode("utf-8")
    else:
        raise ConfigError("setting 's3.master_key' is required with this backend")
    resolver = KeyResolver(backend, master, ttl=settings.s3.key_cache_ttl, on_lookup=count_key_lookup)
    spool = settings.gateway.spool_dir or os.path.join(settings.data_dir, ".spool")
    store = MultipartStore(spool, min_part_size=min_part_size if min_part_size is not None else 5 * 1024 * 1024,
                           max_staged_bytes=settings.gateway.multipart_max_staged_bytes,
                           expiry=timedelta(seconds=settings.gateway.multipart_expiry))
    from ..auditstore import open_audit_store

    app = GatewayApp(settings, backend, resolver, clock, store, open_audit_store(settings))
    app.sweep_multipart()  # orphans of a crashed worker, uploads of tickets revoked while we were down
    return app
