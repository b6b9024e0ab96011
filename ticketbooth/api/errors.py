"""Every API error becomes one JSON shape here: ``{"code": ..., "message": ..., "details": {...}}``.

One handler serves :class:`~ticketbooth.errors.TicketBoothError` (its ``code`` and ``status``), one serves
HTTP exceptions (webargs' 422 validation errors, malformed JSON, 404, 405, 413, ...), and a catch-all turns
anything unexpected into a 500 ``internal_error`` that says nothing about the cause (the log has it).
"""
from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import AuthenticationError, BackendUnavailable, TicketBoothError

__all__ = ["ErrorSchema", "HTTP_CODES", "error_response", "handle_ticketbooth_error", "handle_http_exception",
           "handle_unexpected_error", "register_error_handlers", "www_authenticate"]

log = logging.getLogger(__name__)

#: Stable codes for plain HTTP errors raised by Flask, Werkzeug or webargs.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "too_many_requests",
}


class ErrorSchema(ma.Schema):
    """The body of every error response (documentation only: responses are built by the handlers)."""

    code = ma.fields.String(required=True, metadata={"description": "Stable machine-readable error code"})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable explanation"})
    details = ma.fields.Dict(metadata={"description": "Structured, non-secret details (e.g. the field at fault)"})


def _quoted(text: str) -> str:
    # RFC 6750 section 3: error_description is limited to printable ASCII without '"' and '\'.
    return "".join(ch for ch in text if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


def www_authenticate(error: AuthenticationError) -> str:
    """The ``WWW-Authenticate`` challenge for a 401: RFC 6750, with ``error`` only when a token was sent."""
    challenge = 'Bearer realm="ticketbooth"'
    token_error = getattr(error, "bearer_error", None)
    if token_error:
        challenge += f', error="{token_error}", error_description="{_quoted(error.message)}"'
    return challenge


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON error response in the one shape the API uses."""
    response = jsonify({"code": code, "message": message, "details": details or {}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_ticketbooth_error(error: TicketBoothError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = www_authenticate(error)
    if isinstance(error, BackendUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    if error.status >= 500:
        # Messages never hold secrets (errors.py contract), so they may be logged; no traceback for these.
        log.warning("request failed: %s (%s)", error.code, error.message)
    return error_response(error.status, error.code, error.message, error.details, headers)


def _validation_details(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location (``{"json": {"field": ["..."]}}``); keep that, drop nothing."""
    if isinstance(messages, dict):
        return {"fields": messages}
    return {"fields": {"_request": messages}}


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        log.error("HTTP %s raised while handling a request", status)
        return error_response(500, "internal_error", "internal server error")
    data = getattr(error, "data", None) or {}
    headers = {
        name: value for name, value in error.get_headers() if name.lower() not in ("content-type", "content-length")
    }
    headers.update(data.get("headers") or {})
    code = HTTP_CODES.get(status, "http_error")
    messages = data.get("messages")
    if status == 422 and messages is not None:
        return error_response(422, code, "the request is not valid; see details.fields",
                              _validation_details(messages), headers)
    if status == 400 and messages is not None:
        return error_response(400, code, "the request body is not valid JSON", _validation_details(messages), headers)
    message = {
        404: "no such resource",
        405: "method not allowed on this resource",
        413: "request body too large",
    }.get(status, (error.description or error.name or "").strip() or "request failed")
    return error_response(status, code, message, None, headers)


def handle_unexpected_error(error: Exception) -> Response:
    # The traceback goes to the log; the client learns nothing about internals.
    log.error("unhandled %s", type(error).__name__, exc_info=error)
    return error_response(500, "internal_error", "internal server error")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on ``app`` (after flask-smorest's ``Api``, whose own HTTP handler they replace)."""
    app.register_error_handler(TicketBoothError, handle_ticketbooth_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
