"""The TicketBooth exception hierarchy.

Every error knows its stable machine-readable ``code`` and the HTTP ``status`` that fits it, so the API turns
any of them into a JSON error in one place (``ticketbooth.api.errors``) and the gateway into an S3 XML error in
another. Messages are for humans and never contain a secret, a ticket string or a signature.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "TicketBoothError",
    "ConfigError",
    "InvalidRequest",
    "InvalidPath",
    "InvalidCursor",
    "AuthenticationError",
    "PermissionDenied",
    "NotFound",
    "TicketNotFound",
    "PathNotFound",
    "Conflict",
    "TicketUnusable",
    "TicketExpired",
    "TicketExhausted",
    "TicketUserExcluded",
    "TicketHostExcluded",
    "TicketGroupExcluded",
    "TicketWriteFilesExceeded",
    "TicketWriteBytesExceeded",
    "BackendError",
    "BackendUnavailable",
]


class TicketBoothError(Exception):
    """Root of every error TicketBooth raises on purpose.

    ``code`` is stable and documented; ``status`` is the HTTP status hint; ``details`` carries structured,
    non-secret data (e.g. which field was wrong) that the API puts in the error body.
    """

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.__class__.__doc__.strip().splitlines()[0]
        self.details = details or {}
        super().__init__(self.message)


class ConfigError(TicketBoothError):
    """The configuration is invalid."""

    code = "config_error"
    status = 500


class InvalidRequest(TicketBoothError):
    """The request is not valid."""

    code = "invalid_request"
    status = 422


class InvalidPath(InvalidRequest):
    """The path is not a valid absolute iRODS logical path inside the zone."""

    code = "invalid_path"
    status = 422


class InvalidCursor(InvalidRequest):
    """The pagination cursor is not one this service issued."""

    code = "invalid_cursor"
    status = 422


class AuthenticationError(TicketBoothError):
    """Authentication is missing or invalid."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(TicketBoothError):
    """The caller may not do this."""

    code = "permission_denied"
    status = 403


class NotFound(TicketBoothError):
    """The resource does not exist."""

    code = "not_found"
    status = 404


class TicketNotFound(NotFound):
    """No such ticket (or it is not visible to the caller)."""

    code = "ticket_not_found"


class PathNotFound(NotFound):
    """No collection or data object exists at that path."""

    code = "path_not_found"


class Conflict(TicketBoothError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class TicketUnusable(PermissionDenied):
    """The ticket cannot be used for this request."""

    code = "ticket_invalid"


class TicketExpired(TicketUnusable):
    """The ticket has expired."""

    code = "ticket_expired"


class TicketExhausted(TicketUnusable):
    """The ticket's uses limit has been reached."""

    code = "ticket_uses_exceeded"


class TicketUserExcluded(TicketUnusable):
    """The ticket is not usable by this user."""

    code = "ticket_user_excluded"


class TicketHostExcluded(TicketUnusable):
    """The ticket is not usable from this host."""

    code = "ticket_host_excluded"


class TicketGroupExcluded(TicketUnusable):
    """The ticket is not usable by this user's groups."""

    code = "ticket_group_excluded"


class TicketWriteFilesExceeded(TicketUnusable):
    """The ticket's write-file limit has been reached."""

    code = "ticket_write_files_exceeded"


class TicketWriteBytesExceeded(TicketUnusable):
    """The ticket's write-byte limit would be exceeded."""

    code = "ticket_write_bytes_exceeded"


class BackendError(TicketBoothError):
    """The storage backend failed."""

    code = "backend_error"
    status = 502


class BackendUnavailable(BackendError):
    """The storage backend is unreachable; retry later."""

    code = "backend_unavailable"
    status = 503

    def __init__(self, message: str | None = None, *, retry_after: int = 5, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
