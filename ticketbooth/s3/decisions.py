"""What happens at each access decision besides answering it: the decision metric, audit events, usage counts.

The three decision points call in here: the gateway's S3 requests (``source="s3"``), its anonymous links
(``"link"``) and ``POST /v1/authorize`` (``"authorize"``). A refusal is labelled with the S3 error code the
client gets and, where TicketBooth knows more, its own reason (``ticket_expired``, ``ticket_host_excluded`` ...).
A backend failure is outcome ``error``, not ``denied``: nobody was refused anything.
"""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qs

from .. import errors as tb
from ..audit import AuditTrail
from ..backends.base import TicketBackend
from ..metrics import instruments
from ..model import Ticket
from ..resolver import KeyResolver
from ..sigv4.errors import S3AuthError
from .access import Decision, RequestParts
from .buckets import PUBLIC_PREFIX, public_ticket_string
from .errors import S3Error

__all__ = ["refusal", "record_granted", "record_refused", "claimed_access_key", "DecisionLog", "SOURCES",
           "REFUSED_ROUTE"]

log = logging.getLogger(__name__)

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


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_SIGV2 = re.compile(r"^AWS ([^:\s]+):")


def claimed_access_key(parts: RequestParts) -> str | None:
    """The access key id a request names (signed or not), from its Authorization header or presigned query."""
    header = parts.header("authorization") or ""
    match = _CREDENTIAL.search(header) or _SIGV2.match(header)
    if match:
        return match.group(1)
    query = parse_qs(parts.query_string, keep_blank_values=True)
    credential = (query.get("X-Amz-Credential") or [""])[0]
    if credential:
        return credential.partition("/")[0] or None
    return (query.get("AWSAccessKeyId") or [None])[0]


class DecisionLog:
    """The metric, the audit events and the usage counts of every decision of one process.

    ``refused`` finds out whom a refusal concerned (the ticket and holder of the request's access key, or the
    ticket of a link) with the cached resolver and one ticket lookup, never trusting an unverified claim for more
    than naming it: ``detail.authenticated`` is false when the signature was not verified.
    """

    def __init__(self, audit: AuditTrail, resolver: KeyResolver, backend: TicketBackend) -> None:
        self.audit = audit
        self._resolver = resolver
        self._backend = backend

    def granted(self, source: str, decision: Decision) -> None:
        record_granted(source)
        self.audit.granted(decision.ticket_id)
        used = getattr(decision.session, "ticket", None) or decision.ticket
        if used.uses_limit and used.uses_count >= used.uses_limit:
            # This use was the last one the ticket allows.
            self.audit.notice("exhausted", ticket_id=used.id, owner=used.owner, actor=decision.holder)

    def refused(self, source: str, exc: BaseException, *, parts: RequestParts | None = None,
                link_string: str | None = None, client_addr: str | None = None) -> None:
        """Count and (for a refusal, not a failure) audit ``exc``; ``parts`` of an S3 request, or the
        ``link_string`` of a link (used only to find its ticket; never recorded)."""
        code, reason, status = record_refused(source, exc)
        if status >= 500:
            return
        ticket: Ticket | None = None
        holder: str | None = None
        detail: dict[str, Any] = {"source": source, "s3_code": code, "reason": reason, "status": status}
        try:
            if parts is not None:
                bucket, _, rest = parts.raw_path.lstrip("/").partition("/")
                public_string = public_ticket_string(bucket)
                detail["method"] = parts.method
                # A public bucket's name is its ticket string in disguise: never recorded.
                detail["path"] = f"/{PUBLIC_PREFIX}<redacted>/{rest}" if public_string else parts.raw_path
                key = claimed_access_key(parts)
                resolved = self._resolver(key) if key else None
                if resolved is not None:
                    ticket, holder = resolved.ticket, resolved.holder
                    detail["access_key_id"] = key
                    detail["authenticated"] = not isinstance(exc, S3AuthError)
                elif public_string:
                    ticket = self._anonymous_ticket(public_string)
            elif link_string:
                ticket = self._anonymous_ticket(link_string)
        except Exception as err:  # noqa: BLE001 - the refusal is recorded without a ticket then
            log.warning("could not tell which ticket a refused request named: %s", type(err).__name__)
        self.audit.record("denied", ticket_id=None if ticket is None else ticket.id, actor=holder,
                          owner=None if ticket is None else ticket.owner, detail=detail, client_addr=client_addr)
        if ticket is not None:
            self.audit.refused(ticket.id)
            for cls, status_name in ((tb.TicketExpired, "expired"), (tb.TicketExhausted, "exhausted")):
                if isinstance(exc, cls):
                    self.audit.notice(status_name, ticket_id=ticket.id, owner=ticket.owner, actor=holder)

    def _anonymous_ticket(self, ticket_string: str) -> Ticket | None:
        found = self._backend.find_ticket_by_string(ticket_string)
        return found if found is not None and found.anonymous else None
