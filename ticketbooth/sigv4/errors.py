"""The S3 authentication error hierarchy, and :func:`error_xml`, the one renderer of S3 XML error documents
(the gateway's errors use it too).

Every error carries the stable S3 error ``code`` and the HTTP ``status`` a gateway answers with, a
human-readable message and optional extra fields for the S3 XML error document. Messages and
fields never contain a secret key, a provided signature or an expected signature.

Tree::

    S3AuthError
    ├── AuthenticationError            (403: who/what signed is not acceptable)
    │   ├── SignatureDoesNotMatch
    │   ├── InvalidAccessKeyId
    │   ├── RequestTimeTooSkewed
    │   └── AccessDenied
    │       ├── AnonymousRequest       (no credentials at all)
    │       ├── RequestExpired         (presigned URL past its expiry)
    │       ├── RequestNotYetValid     (presigned URL dated in the future)
    │       └── UnsignedHeaders        (host or an x-amz-* header not signed)
    ├── MalformedRequestError          (400: the request cannot be judged)
    │   ├── AuthorizationHeaderMalformed
    │   ├── AuthorizationQueryParametersError
    │   ├── InvalidArgument
    │   ├── InvalidRequest
    │   ├── InvalidURI
    │   ├── MissingSecurityHeader
    │   └── MissingContentLength       (411)
    └── PayloadError                   (400: the body is not what was signed or declared)
        ├── XAmzContentSHA256Mismatch
        ├── BadDigest
        ├── InvalidDigest
        └── IncompleteBody
"""
from __future__ import annotations

from typing import ClassVar
from xml.sax.saxutils import escape

__all__ = [
    "S3AuthError",
    "AuthenticationError",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "RequestTimeTooSkewed",
    "AccessDenied",
    "AnonymousRequest",
    "RequestExpired",
    "RequestNotYetValid",
    "UnsignedHeaders",
    "MalformedRequestError",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "InvalidArgument",
    "InvalidRequest",
    "InvalidURI",
    "MissingSecurityHeader",
    "MissingContentLength",
    "PayloadError",
    "XAmzContentSHA256Mismatch",
    "BadDigest",
    "InvalidDigest",
    "IncompleteBody",
    "error_xml",
]


class S3AuthError(Exception):
    """Root of every error raised by :mod:`ticketbooth.sigv4`.

    Attributes:
        code: the S3 error code (``<Code>`` of the XML document); stable.
        status: the HTTP status to answer with.
        message: a short explanation, safe to show the client and to log.
        details: extra ``<Name>value</Name>`` fields for the XML document (e.g. ``StringToSign``);
            never secrets or signatures.
    """

    code: ClassVar[str] = "AccessDenied"
    status: ClassVar[int] = 403

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_xml(self, *, resource: str = "", request_id: str = "") -> bytes:
        """Render the S3 XML error document (UTF-8 bytes) for this error."""
        return error_xml(self.code, self.message, self.details, resource=resource, request_id=request_id)


def error_xml(
    code: str, message: str, details: dict[str, str] | None = None, *, resource: str = "", request_id: str = ""
) -> bytes:
    """Render the S3 XML ``<Error>`` document (UTF-8 bytes): Code, Message, the ``details`` as
    ``<Name>value</Name>`` elements, then Resource and RequestId when given. Every value is XML-escaped."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
        f"<Code>{escape(code)}</Code>",
        f"<Message>{escape(message)}</Message>",
    ]
    parts.extend(f"<{name}>{escape(value)}</{name}>" for name, value in (details or {}).items())
    if resource:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    if request_id:
        parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


class AuthenticationError(S3AuthError):
    """The request is well formed but its signer or signature is not acceptable."""

    status = 403


class SignatureDoesNotMatch(AuthenticationError):
    code = "SignatureDoesNotMatch"


class InvalidAccessKeyId(AuthenticationError):
    code = "InvalidAccessKeyId"


class RequestTimeTooSkewed(AuthenticationError):
    code = "RequestTimeTooSkewed"


class AccessDenied(AuthenticationError):
    code = "AccessDenied"


class AnonymousRequest(AccessDenied):
    """The request carries no authentication at all (a gateway may choose to allow it)."""


class RequestExpired(AccessDenied):
    pass


class RequestNotYetValid(AccessDenied):
    pass


class UnsignedHeaders(AccessDenied):
    pass


class MalformedRequestError(S3AuthError):
    """The request cannot be judged: authentication data or framing is malformed."""

    code = "InvalidArgument"
    status = 400


class AuthorizationHeaderMalformed(MalformedRequestError):
    code = "AuthorizationHeaderMalformed"


class AuthorizationQueryParametersError(MalformedRequestError):
    code = "AuthorizationQueryParametersError"


class InvalidArgument(MalformedRequestError):
    code = "InvalidArgument"


class InvalidRequest(MalformedRequestError):
    code = "InvalidRequest"


class InvalidURI(MalformedRequestError):
    code = "InvalidURI"


class MissingSecurityHeader(MalformedRequestError):
    code = "MissingSecurityHeader"


class MissingContentLength(MalformedRequestError):
    code = "MissingContentLength"
    status = 411


class PayloadError(S3AuthError):
    """The body received is not the body that was signed or declared."""

    code = "BadDigest"
    status = 400


class XAmzContentSHA256Mismatch(PayloadError):
    code = "XAmzContentSHA256Mismatch"


class BadDigest(PayloadError):
    code = "BadDigest"


class InvalidDigest(PayloadError):
    code = "InvalidDigest"


class IncompleteBody(PayloadError):
    code = "IncompleteBody"
