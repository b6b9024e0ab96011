"""Turn what python-irodsclient raises into :mod:`ticketbooth.errors`.

python-irodsclient reports a server error as an ``iRODSException`` subclass carrying ``.code``, but only for codes
it knows: 3.3.0 has no classes for -893000 to -897000, and looking those up inside ``Connection.recv`` raises a
bare ``KeyError(<code>)`` instead. :func:`irods_code` recovers the code from either shape; :func:`error_for_code`
is the pure table from code to TicketBooth error; :func:`translate` applies both plus the client's own
non-server exceptions (network failures, "does not exist"). Messages name the iRODS error, never a ticket string.

:func:`is_network_failure` tells a lost or refused connection from every other failure: python-irodsclient's
``NetworkException`` ("Could not connect", "Could not receive server response", "Unable to send message"), socket
errors (a reset connection, a timeout, a TLS failure) and the server's own codes for a connection it could not
serve. They all become ``BackendUnavailable`` (503 with ``Retry-After``), and they tell the connector that the
pooled connections of the service session may all be dead (a restarted server answers none of them).
"""
from __future__ import annotations

import socket

from ...errors import (
    BackendError,
    BackendUnavailable,
    InvalidRequest,
    PathNotFound,
    PermissionDenied,
    TicketBoothError,
    TicketExhausted,
    TicketExpired,
    TicketGroupExcluded,
    TicketHostExcluded,
    TicketNotFound,
    TicketUnusable,
    TicketUserExcluded,
    TicketWriteBytesExceeded,
    TicketWriteFilesExceeded,
)

__all__ = [
    "CAT_TICKET_INVALID",
    "CODE_NAMES",
    "RETRY_AFTER_SECONDS",
    "error_for_code",
    "irods_code",
    "is_network_failure",
    "translate",
]

CAT_TICKET_INVALID = -890000
#: Seconds a client is told to wait (``Retry-After``) when iRODS cannot be reached.
RETRY_AFTER_SECONDS = 5

#: The iRODS errors TicketBooth distinguishes (numbers from iRODS's rodsErrorTable.h).
CODE_NAMES: dict[int, str] = {
    -808000: "CAT_NO_ROWS_FOUND",
    -814000: "CAT_UNKNOWN_COLLECTION",
    -817000: "CAT_UNKNOWN_FILE",
    -818000: "CAT_NO_ACCESS_PERMISSION",
    -827000: "CAT_INVALID_USER",
    -829000: "CAT_INVALID_GROUP",
    -830000: "CAT_INSUFFICIENT_PRIVILEGE_LEVEL",
    -358000: "OBJ_PATH_DOES_NOT_EXIST",
    -310000: "USER_FILE_DOES_NOT_EXIST",
    -13000: "SYS_NO_API_PRIV",
    -39000: "SYS_PROXYUSER_NO_PRIV",
    -826000: "CAT_INVALID_AUTHENTICATION",
    -115000: "SYS_SOCK_READ_TIMEDOUT",
    -304000: "USER_SOCK_OPEN_ERR",
    -305000: "USER_SOCK_CONNECT_ERR",
    -347000: "USER_SOCK_CONNECT_TIMEDOUT",
    -1000: "SYS_SOCK_OPEN_ERR",
    -4000: "SYS_HEADER_READ_LEN_ERR",
    -5000: "SYS_HEADER_WRITE_LEN_ERR",
    -9000: "SYS_EXCEED_CONNECT_CNT",
    -22000: "SYS_SVR_TO_SVR_CONNECT_FAILED",
    -38000: "SYS_AGENT_INIT_ERR",
    -801000: "CATALOG_NOT_CONNECTED",
    -803000: "CAT_CONNECT_ERR",
    -890000: "CAT_TICKET_INVALID",
    -891000: "CAT_TICKET_EXPIRED",
    -892000: "CAT_TICKET_USES_EXCEEDED",
    -893000: "CAT_TICKET_USER_EXCLUDED",
    -894000: "CAT_TICKET_HOST_EXCLUDED",
    -895000: "CAT_TICKET_GROUP_EXCLUDED",
    -896000: "CAT_TICKET_WRITE_USES_EXCEEDED",
    -897000: "CAT_TICKET_WRITE_BYTES_EXCEEDED",
}

_TICKET_ERRORS: dict[int, type[TicketBoothError]] = {
    -891000: TicketExpired,
    -892000: TicketExhausted,
    -893000: TicketUserExcluded,
    -894000: TicketHostExcluded,
    -895000: TicketGroupExcluded,
    -896000: TicketWriteFilesExceeded,
    -897000: TicketWriteBytesExceeded,
}
_NOT_FOUND = {-808000, -814000, -817000, -358000, -310000}
_DENIED = {-818000, -830000, -13000}
_UNKNOWN_NAME = {-827000, -829000}
# The connection (or the server's own connection to its catalog) failed: retry later.
_UNREACHABLE = {-115000, -304000, -305000, -347000, -1000, -4000, -5000, -9000, -22000, -38000, -801000, -803000}
# Misconfiguration of the service account: an operator problem, never the caller's.
_SERVICE_ACCOUNT = {-39000, -826000}


def _round(code: int) -> int:
    """iRODS adds an errno to the thousands (-818013); the error's identity is the rounded code."""
    return -((-code) // 1000 * 1000) if code <= -1000 else code


def irods_code(exc: BaseException) -> int | None:
    """The iRODS error code ``exc`` carries (rounded to its thousand), or ``None``.

    Recognises an ``iRODSException`` (``.code``) and the bare ``KeyError(<negative int>)`` python-irodsclient
    raises for codes it has no class for. Any other ``KeyError`` is not an iRODS error.
    """
    if isinstance(exc, KeyError):
        if len(exc.args) == 1 and isinstance(exc.args[0], int) and not isinstance(exc.args[0], bool):
            value = exc.args[0]
            return _round(value) if value <= -1000 else None
        return None
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool) and code < 0:
        return _round(code)
    return None


def error_for_code(code: int, *, context: str = "manage", path: str | None = None) -> TicketBoothError:
    """The TicketBooth error for iRODS ``code`` (pure).

    ``context`` is ``"manage"`` (creating, changing, deleting tickets: -890000 means the caller cannot see the
    ticket, so ``TicketNotFound``) or ``"use"`` (data through a ticket: -890000 means the ticket does not cover
    the request, ``TicketUnusable``). ``path`` goes into ``details`` where it helps.
    """
    name = CODE_NAMES.get(code, "UNKNOWN_IRODS_ERROR")
    details: dict[str, object] = {"irods_error": name, "irods_code": code}
    if path is not None:
        details["path"] = path
    if code in _TICKET_ERRORS:
        err = _TICKET_ERRORS[code]()
        err.details.update(details)
        return err
    if code == CAT_TICKET_INVALID:
        if context == "use":
            return TicketUnusable("the ticket does not grant this request", details=details)
        return TicketNotFound(details=details)
    if code in _NOT_FOUND:
        return PathNotFound(details=details)
    if code in _DENIED:
        return PermissionDenied("iRODS refused: no permission", details=details)
    if code in _UNKNOWN_NAME:
        kind = "user" if code == -827000 else "group"
        return InvalidRequest(f"iRODS does not know that {kind}", details={**details, "field": f"{kind}s"})
    if code in _UNREACHABLE:
        return BackendUnavailable("iRODS is unreachable or timed out", retry_after=RETRY_AFTER_SECONDS, details=details)
    if code in _SERVICE_ACCOUNT:
        return BackendError("the TicketBooth service account cannot act for users in iRODS", details=details)
    return BackendError(f"iRODS error {name} ({code})", details=details)


def _is_client_network_error(exc: BaseException) -> bool:
    try:
        from irods.exception import NetworkException
    except ImportError:  # pragma: no cover - the package always ships it
        NetworkException = ()  # type: ignore[assignment,misc]  # noqa: N806
    return isinstance(exc, NetworkException | socket.timeout | ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | PermissionError)
    )


def is_network_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection to iRODS failed or was lost (see the module docstring).

    A :class:`TicketBoothError` counts when it was raised ``from`` such a failure (what :func:`translate`'s
    callers do), so the answer survives one layer of mapping.
    """
    if isinstance(exc, TicketBoothError):
        cause = exc.__cause__
        return cause is not None and not isinstance(cause, TicketBoothError) and is_network_failure(cause)
    code = irods_code(exc)
    if code is not None:
        return code in _UNREACHABLE
    return _is_client_network_error(exc)


def _is_does_not_exist(exc: BaseException) -> bool:
    from irods.exception import DoesNotExist, NoResultFound

    return isinstance(exc, DoesNotExist | NoResultFound)


def translate(exc: BaseException, *, context: str = "manage", path: str | None = None) -> TicketBoothError:
    """Map anything python-irodsclient raised to a :class:`TicketBoothError` (callers ``raise ... from exc``)."""
    if isinstance(exc, TicketBoothError):
        return exc
    code = irods_code(exc)
    if code is not None:
        return error_for_code(code, context=context, path=path)
    if _is_client_network_error(exc):
        return BackendUnavailable("iRODS is unreachable or timed out", retry_after=RETRY_AFTER_SECONDS)
    if _is_does_not_exist(exc):
        details = {"path": path} if path is not None else {}
        return PathNotFound(details=details)
    return BackendError(f"iRODS client error ({type(exc).__name__})")
