"""Presign a URL for one object of a ticket with the caller's own key pair (no web framework here).

The URL is signed with the key pair ``TicketService.credentials`` hands the caller, so it is exactly as strong
as those keys: revoking the ticket makes its access key unknown to the gateway and kills every URL at once,
long before ``X-Amz-Expires`` runs out. The expiry is capped at the ticket's own expiry.
"""
from __future__ import annotations

import math
from datetime import datetime

from ....errors import InvalidRequest, PermissionDenied, TicketExhausted, TicketExpired
from ....model import Actor, TargetKind, TicketStatus
from ....paths import join
from ....policy import action_allowed, ticket_status
from ....sigv4.presign import MAX_PRESIGN_EXPIRES, PresignedURL, presign_url
from ....tickets import TicketService

__all__ = ["PRESIGN_METHODS", "presign_object"]

#: HTTP method -> the ticket action it needs.
PRESIGN_METHODS = {"GET": "read", "PUT": "write"}


def presign_object(
    tickets: TicketService,
    actor: Actor,
    ticket_id: int,
    *,
    key: str,
    method: str,
    expires_in: int,
    now: datetime,
) -> PresignedURL:
    """A presigned ``method`` URL for ``key`` in the ticket's bucket, valid ``expires_in`` seconds (capped).

    Raises ``TicketNotFound`` (not visible), ``NotAHolder``/``PermissionDenied`` (no key pair, or a PUT on a
    read ticket), ``TicketExpired``/``TicketExhausted``, ``InvalidRequest`` (bad key, method or expiry).
    """
    method = method.upper()
    if method not in PRESIGN_METHODS:
        raise InvalidRequest("method must be GET or PUT", details={"field": "method"})
    if not 1 <= expires_in <= MAX_PRESIGN_EXPIRES:
        raise InvalidRequest(f"expires_in must be 1 to {MAX_PRESIGN_EXPIRES} seconds", details={"field": "expires_in"})
    credentials = tickets.credentials(actor, ticket_id)
    ticket = tickets.get(actor, ticket_id).ticket
    status = ticket_status(ticket, now)
    if status is TicketStatus.EXPIRED:
        raise TicketExpired()
    if status is TicketStatus.EXHAUSTED:
        raise TicketExhausted()
    if not action_allowed(ticket, PRESIGN_METHODS[method]):
        raise PermissionDenied("this is a read ticket: only GET URLs can be presigned", details={"field": "method"})
    _check_key(key, ticket.target_kind, credentials.s3.key_prefix)
    if ticket.expires_at is not None:
        # A URL never outlives its ticket; round down so it is dead no later than the ticket.
        expires_in = min(expires_in, max(1, math.floor((ticket.expires_at - now).total_seconds())))
    return presign_url(
        method=method,
        endpoint_url=credentials.s3.endpoint_url,
        bucket=credentials.s3.bucket,
        key=key,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        region=credentials.s3.region,
        now=now,
        expires_in=expires_in,
    )


def _check_key(key: str, kind: TargetKind, key_prefix: str) -> None:
    if kind is TargetKind.DATA_OBJECT:
        if key != key_prefix:
            raise InvalidRequest(f"this ticket's bucket holds one key only: '{key_prefix}'", details={"field": "key"})
        return
    if not key or key.endswith("/"):
        raise InvalidRequest("key must name an object (not empty, no trailing '/')", details={"field": "key"})
    # The gateway refuses '.', '..' and empty segments; refuse them here rather than sign a dead URL.
    join("/", key)
