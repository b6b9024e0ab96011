"""Log lines of both processes: the current request's id and client, and the text or JSON line format.

The edge middleware (:mod:`ticketbooth.metricsapp`) gives each request an id (returned as ``X-Request-Id`` by
the API and ``x-amz-request-id`` by the gateway) and binds it, with the client address, to the thread serving
the request (:func:`bind_request`); :func:`current_request` reads it back for log lines and audit events.

``log_format = "json"`` makes every line one JSON object (:class:`JsonFormatter`): ``time`` (RFC 3339, UTC,
milliseconds), ``level``, ``logger``, ``message``, ``request_id`` (``null`` outside a request), ``exception``
(the traceback, when there is one) and, where the line is about one, ``event`` (an audit event) or ``http``
(an access-log entry). :func:`configure_logging` installs it on the root logger; gunicorn's own loggers get it
from ``ticketbooth.gateway.accesslog``. Secrets never reach a log line: the code never logs them, and the access
log drops query strings and link ticket strings before any format sees them.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["RequestContext", "current_request", "bind_request", "new_request_id", "JsonFormatter",
           "TEXT_FORMAT", "configure_logging", "log_format", "formatter", "LOG_FORMAT_ENV"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMAT_ENV = "TICKETBOOTH_LOG_FORMAT"


@dataclass(frozen=True)
class RequestContext:
    request_id: str | None = None
    client_addr: str | None = None


_NO_REQUEST = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar("ticketbooth_request", default=_NO_REQUEST)


def new_request_id() -> str:
    """16 upper-case hex digits, as S3's ``x-amz-request-id``."""
    return secrets.token_hex(8).upper()


def current_request() -> RequestContext:
    """The request this thread serves now (both fields ``None`` outside a request)."""
    return _current.get()


def bind_request(request_id: str | None, client_addr: str | None = None) -> contextvars.Token[RequestContext]:
    """Make ``request_id`` and ``client_addr`` the current request's; undo with :func:`unbind_request`."""
    return _current.set(RequestContext(request_id, client_addr))


def unbind_request(token: contextvars.Token[RequestContext]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (a body closed by another thread): just clear
        _current.set(_NO_REQUEST)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or current_request().request_id
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id,
        }
        for name in ("event", "http"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_text:  # already formatted (and redacted: ticketbooth.logredact)
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


_format = os.environ.get(LOG_FORMAT_ENV, "text").strip().lower() or "text"


def log_format() -> str:
    """``text`` or ``json``: what :func:`configure_logging` last set (default: ``$TICKETBOOTH_LOG_FORMAT``)."""
    return _format


def formatter(fmt: str | None = None) -> logging.Formatter:
    """The formatter of ``fmt`` (default: :func:`log_format`)."""
    return JsonFormatter() if (fmt or _format) == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """Send every logger's records to stderr as ``fmt`` lines (replacing the root logger's handlers).

    Called once by each process entry point (the CLI, the WSGI modules, ``ticketbooth.gunicorn_conf``), never
    by the app factories, so tests and embedding applications keep their own logging.
    """
    global _format
    _format = fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("ticketbooth").setLevel(level.upper())
    # The audit trail is not chatter: its lines are written whatever log_level says.
    logging.getLogger("ticketbooth.audit").setLevel(logging.INFO)
