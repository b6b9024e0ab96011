"""What happens at each access decision besides answering it: the decision metric (and the audit trail).

The three decision points call in here: the gateway's S3 requests (``source="s3"``), its anonymous links
(``"link"``) and ``POST /v1/authorize`` (``"authorize"``). A refusal is labelled with the S3 error code the
client gets and, where TicketBooth knows more, its own reason (``ticket_expired``, ``ticket_host_excluded`` ...).
A backend failure is outcome ``error``, not ``denied``: nobody was refused anything.
"""
from __future__ import annotations

from .. import errors as tb
from ..metrics import instruments
from ..sigv4.errors import S3AuthError
from .errors import S3Error

__all__ = ["refusal", "record_granted", "record_refused", "SOURCES", "REFUSED_ROUTE"]

SOURCES = ("s3", "link", "authorize")
#: The ``route`` label of a request refused before its operation was known to be allowed.
REFUSED_ROUTE = "refused"


def refusal(exc: BaseException) -> tuple[str, str, int]:
    """``(S3 code, TicketBooth reason or "", HTTP status)`` of a refusal, without logging anything."""
    if isinstance(exc, S3Error):
        return exc.code, exc.details.get("TicketBoothCode", ""), exc.status
    if isinstance(exc, S3AuthError):
        return exc.code, "", exc.status
    if isinstance(exc, tb.BackendUnavailable):
        return "ServiceUnavailable", exc.code, 503
    if isinstance(exc, tb.BackendError) or not isinstance(exc, tb.TicketBoothError):
        return "InternalError", getattr(exc, "code", "") or "", 500
    from .errors import to_s3_error

    error = to_s3_error(exc)
    return error.code, exc.code, error.status


def record_granted(source: str) -> None:
    instruments().count("ticketbooth_decisions_total",
                        {"source": source, "outcome": "granted", "code": "", "reason": ""})


def record_refused(source: str, exc: BaseException) -> tuple[str, str, int]:
    """Count the refusal (or failure) ``exc`` of a ``source`` request; returns :func:`refusal`'s answer."""
    code, reason, status = refusal(exc)
    outcome = "error" if status >= 500 else "denied"
    instruments().count("ticketbooth_decisions_total",
                        {"source": source, "outcome": outcome, "code": code, "reason": reason})
    return code, reason, status
