"""S3 errors of the gateway, and the one place that maps every other error onto them.

:class:`S3Error` is what the gateway raises for S3-level refusals (``NoSuchKey``, ``InvalidRange`` ...).
:func:`to_s3_error` turns anything raised while serving a request (an :class:`S3Error`, a
``ticketbooth.sigv4`` :class:`~ticketbooth.sigv4.errors.S3AuthError`, a ``ticketbooth.errors``
:class:`~ticketbooth.errors.TicketBoothError` or an unexpected exception) into the S3 error the client gets.

Choices where S3 has no exact equivalent (documented in ``docs/gateway.md``):

* an expired, exhausted or excluded ticket, or an exceeded write-file / write-byte limit: ``403 AccessDenied``
  with a message naming the reason (as Garage answers an exceeded bucket quota with ``AccessDenied``);
* a ticket gone (revoked) between signature check and use: ``403 InvalidAccessKeyId`` (its keys died with it);
* the backend unreachable: ``503 ServiceUnavailable`` with ``Retry-After``; any other backend failure:
  ``500 InternalError`` (clients retry both).
"""
from __future__ import annotations

import logging

from .. import errors as tb
from ..sigv4.errors import S3AuthError, error_xml

__all__ = ["S3Error", "to_s3_error", "error_xml"]

log = logging.getLogger(__name__)


class S3Error(Exception):
    """An S3 error response: ``code`` (S3's ``<Code>``), HTTP ``status``, a safe ``message``.

    ``details`` become extra ``<Name>value</Name>`` elements of the XML document; ``headers`` extra response
    headers (``Retry-After``, ``Content-Range`` of a 416 ...). Neither ever holds a secret.
    """

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        *,
        details: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def to_xml(self, *, resource: str = "", request_id: str = "") -> bytes:
        """The S3 XML error document (UTF-8 bytes)."""
        return error_xml(self.code, self.message, self.details, resource=resource, request_id=request_id)


# Ticket refusals: (error class, message). Order matters: the first matching class wins.
_TICKET_REFUSALS: tuple[tuple[type[tb.TicketBoothError], str], ...] = (
    (tb.TicketExpired, "Access Denied: the ticket has expired."),
    (tb.TicketExhausted, "Access Denied: the ticket's uses limit has been reached."),
    (tb.TicketUserExcluded, "Access Denied: the ticket is not usable by this user."),
    (tb.TicketGroupExcluded, "Access Denied: the ticket is not usable by this user's groups."),
    (tb.TicketHostExcluded, "Access Denied: the ticket is not usable from this client address."),
    (tb.TicketWriteFilesExceeded, "Access Denied: the ticket's write-file limit has been reached."),
    (tb.TicketWriteBytesExceeded, "Access Denied: this upload would exceed the ticket's write-byte limit."),
)


def to_s3_error(exc: BaseException, *, object_level: bool = True) -> S3Error:
    """The S3 error to answer for ``exc``.

    ``object_level`` says whether the request named an object key: a missing path is then ``NoSuchKey``,
    else ``NoSuchBucket`` (the ticket's target itself is gone). Unexpected exceptions are logged here (with
    their traceback, which never holds secrets) and become ``500 InternalError``.
    """
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, S3AuthError):
        return S3Error(exc.code, exc.status, exc.message, details=dict(exc.details))
    if isinstance(exc, tb.TicketBoothError):
        return _from_ticketbooth(exc, object_level)
    log.error("unexpected error while serving an S3 request", exc_info=exc)
    return S3Error("InternalError", 500, "We encountered an internal error. Please try again.")


def _from_ticketbooth(exc: tb.TicketBoothError, object_level: bool) -> S3Error:
    extra = {"TicketBoothCode": exc.code}
    for cls, message in _TICKET_REFUSALS:
        if isinstance(exc, cls):
            return S3Error("AccessDenied", 403, message, details=extra)
    if isinstance(exc, tb.TicketNotFound):
        return S3Error("InvalidAccessKeyId", 403,
                       "The AWS Access Key Id you provided does not exist in our records.", details=extra)
    if isinstance(exc, tb.PathNotFound):
        if object_level:
            return S3Error("NoSuchKey", 404, "The specified key does not exist.")
        return S3Error("NoSuchBucket", 404, "The specified bucket does not exist.")
    if isinstance(exc, tb.PermissionDenied):
        return S3Error("AccessDenied", 403, f"Access Denied: {exc.message}", details=extra)
    if isinstance(exc, tb.InvalidPath):
        return S3Error("InvalidArgument", 400, f"Invalid object key: {exc.message}", details=extra)
    if isinstance(exc, tb.InvalidRequest):
        return S3Error("InvalidRequest", 400, exc.message, details=extra)
    if isinstance(exc, tb.Conflict):
        return S3Error("OperationAborted", 409, exc.message, details=extra)
    if isinstance(exc, tb.BackendUnavailable):
        return S3Error("ServiceUnavailable", 503, "The storage backend is unavailable; please retry.",
                       headers={"Retry-After": str(exc.retry_after)})
    log.error("backend or internal error while serving an S3 request", exc_info=exc)
    return S3Error("InternalError", 500, "We encountered an internal error. Please try again.")
