"""Authenticate the gateway that calls ``POST /v1/authorize`` with the configured shared secret.

The secret travels in ``X-TicketBooth-Gateway-Secret`` (nginx, whose subrequest forwards the client's own
``Authorization`` header) or as ``Authorization: Bearer <secret>`` (when that header is not the client's).
Compared in constant time; never logged or echoed.
"""
from __future__ import annotations

import hmac

from ....errors import AuthenticationError

__all__ = ["SECRET_HEADER", "check_gateway_secret"]

SECRET_HEADER = "X-TicketBooth-Gateway-Secret"


def check_gateway_secret(configured: str, secret_header: str | None, authorization: str | None) -> None:
    """Return when the caller presented ``configured``; raise ``AuthenticationError`` otherwise.

    ``configured`` must be non-empty (the endpoint is disabled otherwise; the view answers 404 before this).
    """
    presented = secret_header
    if presented is None and authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            presented = token.strip()
    if not presented:
        raise AuthenticationError(f"the gateway secret is required ({SECRET_HEADER} or Authorization: Bearer)")
    if not hmac.compare_digest(presented.encode("utf-8"), configured.encode("utf-8")):
        raise AuthenticationError("the gateway secret is not valid")
