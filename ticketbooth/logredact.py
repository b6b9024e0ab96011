"""Keep bearer secrets out of every log line both processes write (pure redaction plus one logging hook).

Secrets that travel in requests: presigned URLs carry ``X-Amz-Signature`` (SigV2: ``Signature``) in the query
string; anonymous links carry the ticket string in the path (``/_t/<string>/...``) and public buckets carry it
encoded in their name (``pub-<base32>``, in the path or the Host); API calls carry a JWT
(``Authorization: Bearer ...``); SigV4 headers carry ``Signature=<hex>``. gunicorn writes the request line
into its error log when a request is malformed or a response fails, and its debug ``pre_request`` hook logs
the path, so redacting one access-log format is not enough.

:func:`install` sets a log-record factory, process-wide, that redacts every record at creation — its
formatted message and, when it carries one, its formatted traceback — before any handler or formatter sees
it. That covers gunicorn's access and error logs, the application's loggers and any library's, whatever
handlers a deployment configures. The gunicorn logger class and both application factories call it.
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

__all__ = ["redact_text", "redact_path", "install"]

_REDACTED = "<redacted>"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Anonymous links, anywhere in the text and however often (also percent-encoded slashes).
    (re.compile(r"(/|%2[fF])_t(/|%2[fF])[^/\s?#\"'<>]+"), r"\1_t\2" + _REDACTED),
    # Public buckets (ticketbooth.s3.buckets): the name is the ticket string, path-style or virtual-host.
    (re.compile(r"(?<![A-Za-z0-9-])pub-[a-z2-7]{8,}"), "pub-" + _REDACTED),
    # A query string: every presigned parameter (signature, credential, security token) goes with it.
    (re.compile(r"\?[^\s\"'<>]+"), "?" + _REDACTED),
    # Header forms: SigV4 "Signature=<hex>", SigV2 "AWS <akid>:<signature>", bearer tokens, bare JWTs.
    (re.compile(r"(Signature=)[^\s,&\"']+", re.IGNORECASE), r"\1" + _REDACTED),
    (re.compile(r"(\bAWS [A-Za-z0-9]+:)[A-Za-z0-9+/=]+"), r"\1" + _REDACTED),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1" + _REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), _REDACTED),
)


# One scan that every rule's match would trip: most log lines have none, and cost only this.
_TRIGGER = re.compile(r"_t(?:/|%2[fF])|pub-|\?[^\s\"'<>]|Signature=|AWS [A-Za-z0-9]+:|Bearer|eyJ", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with link ticket strings, public bucket names, query strings, signatures and bearer tokens
    replaced."""
    if not _TRIGGER.search(text):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_path(path: str) -> str:
    """A request path for the access log: an anonymous link's ticket string replaced (``/_t/<redacted>/...``)."""
    if path.startswith("/_t/"):
        rest = path[4:].partition("/")[2]
        return redact_text("/_t/<redacted>/" + rest)
    return redact_text(path)


_installed = threading.Lock()
_state: dict[str, Any] = {}


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    with _installed:
        if "factory" in _state:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string must not lose the record
                message = str(record.msg)
            record.msg, record.args = redact_text(message), None
            if record.exc_info and record.exc_info[0] is not None:
                # logging.Formatter uses exc_text when set and formats exc_info only when it is not.
                record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
            return record

        logging.setLogRecordFactory(factory)
        _state["factory"] = factory
