"""The WSGI middleware both processes are wrapped in: it names and measures every request, serves ``/metrics``.

Each request gets an id (:func:`ticketbooth.logs.new_request_id`), bound with the client address (through
``gateway.trusted_proxies``) for log lines and audit events, and kept in ``environ["ticketbooth.request_id"]``;
the API answers it as ``X-Request-Id``, the gateway as ``x-amz-request-id``.

The wrapped application names the route it served in ``environ["ticketbooth.route"]`` (the API its URL rule,
the gateway the S3 operation); requests it did not name are counted as ``unmatched``. The duration runs until
the response body is closed, so a download is measured whole. A ``wsgi.file_wrapper`` body is handed on as it is
(gunicorn then still uses ``sendfile``), with its ``close`` wrapped.

``/metrics`` follows ``settings.metrics``: disabled (404), behind a bearer token (401 without it), or only on
the extra port ``metrics.port`` (404 there for everything else, and 404 for ``/metrics`` on the main port).
"""
from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .logs import bind_request, new_request_id, unbind_request
from .metrics import exposition, instruments
from .s3.clientaddr import client_address
from .settings import Settings

__all__ = ["MetricsMiddleware", "ROUTE_KEY", "REQUEST_ID_KEY", "METRICS_PATH"]

ROUTE_KEY = "ticketbooth.route"
REQUEST_ID_KEY = "ticketbooth.request_id"
METRICS_PATH = "/metrics"


class _CountingInput:
    """``wsgi.input`` that counts the bytes the application reads."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.count = 0

    def read(self, *args: Any) -> bytes:
        data = self._stream.read(*args)
        self.count += len(data)
        return data  # type: ignore[no-any-return]

    def readinto(self, buffer: Any) -> int:
        # Into the reader's buffer where the server's input can (no bytes object per read).
        inner = getattr(self._stream, "readinto", None)
        if inner is not None:
            count = inner(buffer) or 0
        else:
            data = self._stream.read(len(buffer))
            count = len(data)
            buffer[:count] = data
        self.count += count
        return count

    def readline(self, *args: Any) -> bytes:
        data = self._stream.readline(*args)
        self.count += len(data)
        return data  # type: ignore[no-any-return]

    def readlines(self, *args: Any) -> list[bytes]:
        lines = self._stream.readlines(*args)
        self.count += sum(len(line) for line in lines)
        return lines  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self.count += len(chunk)
            yield chunk


class _ClosingBody:
    """A response body that reports the bytes it yielded once: when it is used up or closed, whichever is first
    (a WSGI server closes every body; some test clients only read it to the end)."""

    def __init__(self, body: Iterable[bytes], on_done: Callable[[int | None], None]) -> None:
        self._body = body
        self._on_done: Callable[[int | None], None] | None = on_done
        self._sent = 0

    def _done(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(self._sent)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk
        self._done()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


def _plain(start_response: Callable[..., Any], status: str, text: str,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *(extra or [])])
    return [body]


class MetricsMiddleware:
    """Wrap ``app`` (the API's or the gateway's WSGI callable) as ``service`` (``api`` or ``gateway``)."""

    def __init__(self, app: Callable[..., Any], service: str, settings: Settings) -> None:
        self.app = app
        self.service = service
        self.settings = settings.metrics
        self._trusted_proxies = settings.gateway.trusted_proxies
        self._metrics = instruments()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        on_metrics_port = bool(self.settings.port) and environ.get("SERVER_PORT") == str(self.settings.port)
        if environ.get("PATH_INFO") == METRICS_PATH and self.settings.enabled and (
                on_metrics_port or not self.settings.port):
            return self._scrape(environ, start_response)
        if on_metrics_port:
            return _plain(start_response, "404 Not Found", "only /metrics is served on this port\n")
        return self._measured(environ, start_response)

    def _scrape(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "GET /metrics\n", [("Allow", "GET, HEAD")])
        token = self.settings.bearer_token
        if token:
            given = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                return _plain(start_response, "401 Unauthorized", "a bearer token is required for /metrics\n",
                              [("WWW-Authenticate", 'Bearer realm="metrics"')])
        body, content_type = exposition()
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _measured(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = new_request_id()
        environ[REQUEST_ID_KEY] = request_id
        forwarded = [environ["HTTP_X_FORWARDED_FOR"]] if "HTTP_X_FORWARDED_FOR" in environ else []
        bound = bind_request(request_id, client_address(environ.get("REMOTE_ADDR"), forwarded,
                                                        self._trusted_proxies))
        counting = _CountingInput(environ["wsgi.input"]) if "wsgi.input" in environ else None
        if counting is not None:
            environ["wsgi.input"] = counting
        answer: dict[str, Any] = {}

        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            answer["status"] = status.split(" ", 1)[0]
            answer["length"] = next((v for k, v in headers if k.lower() == "content-length"), None)
            if self.service == "api":
                headers = [*headers, ("X-Request-Id", request_id)]
            return start_response(status, headers, *exc)

        def finish(sent: int | None) -> None:
            unbind_request(bound)
            route = environ.get(ROUTE_KEY, "unmatched")
            method = environ.get("REQUEST_METHOD", "-")
            labels = {"service": self.service, "route": route}
            self._metrics.count("ticketbooth_http_requests_total",
                                {**labels, "method": method, "status": answer.get("status", "-")})
            self._metrics.observe("ticketbooth_http_request_duration_seconds", {**labels, "method": method},
                                  time.perf_counter() - started)
            if counting is not None and counting.count:
                self._metrics.count("ticketbooth_http_received_bytes_total", labels, counting.count)
            length = answer.get("length")
            out = int(length) if sent is None and length and length.isdigit() else (sent or 0)
            if method != "HEAD" and out:
                self._metrics.count("ticketbooth_http_sent_bytes_total", labels, out)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            answer.setdefault("status", "500")
            finish(0)
            raise
        wrapper_class = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper_class, type) and isinstance(body, wrapper_class):
            # Keep the server's file wrapper (sendfile); its length is the Content-Length.
            close_file = getattr(body, "close", None)

            def close() -> None:
                try:
                    if close_file is not None:
                        close_file()
                finally:
                    finish(None)

            body.close = close
            return body
        return _ClosingBody(body, finish)
