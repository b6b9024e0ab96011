"""The value :func:`ticketbooth.sigv4.verify` returns."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

__all__ = ["VerifiedRequest", "PAYLOAD_MODES", "SCHEMES"]

SCHEMES = ("v4-header", "v4-query", "v2-header", "v2-query")

# payload_mode values: how the body is bound to the signature.
PAYLOAD_MODES = (
    "SHA256",  # x-amz-content-sha256 is a literal hash, checked while the body streams
    "UNSIGNED-PAYLOAD",  # body not covered (presigned URLs, SigV2, explicit UNSIGNED-PAYLOAD)
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
)


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose signature checked out.

    Attributes:
        access_key_id: who signed.
        region: the region of the credential scope ("" for SigV2, which has none).
        scheme: "v4-header", "v4-query", "v2-header" or "v2-query".
        body: readable binary stream of the decoded payload (aws-chunked framing removed).
            Reading it to EOF verifies payload hash, chunk signatures and trailer checksum and
            raises S3AuthError on a mismatch. Never read past EOF-with-error: discard the data.
            After EOF, ``body.trailing_checksum`` holds the trailer checksum (base64) if any.
        signed_headers: lower-case names of the headers covered by the signature (SigV2:
            content-md5, content-type, date and every x-amz-* header present).
        payload_mode: one of PAYLOAD_MODES.
        decoded_content_length: the payload size in bytes when known (x-amz-decoded-content-length
            for aws-chunked, else Content-Length or len(body)), None otherwise.
        signed_at: the request time that was signed (SigV2 query: None).
        expires_at: when a presigned URL stops being valid; None for header-signed requests.
        checksum_algorithm: "CRC32", "CRC32C", "CRC64NVME", "SHA1" or "SHA256" when the body
            carries a trailing checksum (x-amz-trailer), else None.
        security_token: x-amz-security-token / X-Amz-Security-Token if sent (it is signed).
        content_encoding: Content-Encoding to store with the object: the header without the
            transport-only ``aws-chunked`` token; None when nothing remains.
        service: the service of the credential scope ("s3").
    """

    access_key_id: str
    region: str
    scheme: str
    body: BinaryIO
    signed_headers: tuple[str, ...]
    payload_mode: str
    decoded_content_length: int | None
    signed_at: datetime | None
    expires_at: datetime | None
    checksum_algorithm: str | None
    security_token: str | None
    content_encoding: str | None
    service: str

    @classmethod
    def _build(
        cls,
        access_key_id: str,
        region: str,
        scheme: str,
        body: BinaryIO,
        signed_headers: tuple[str, ...],
        payload_mode: str,
        decoded_content_length: int | None,
        signed_at: datetime | None,
        expires_at: datetime | None,
        checksum_algorithm: str | None,
        security_token: str | None,
        content_encoding: str | None,
        service: str,
    ) -> VerifiedRequest:
        """An instance from every field's value, in declaration order."""
        # verify() runs on every request: storing into __dict__ directly skips the frozen
        # dataclass's per-field object.__setattr__ (half the cost of building the result).
        instance = object.__new__(cls)
        fields = instance.__dict__
        fields["access_key_id"] = access_key_id
        fields["region"] = region
        fields["scheme"] = scheme
        fields["body"] = body
        fields["signed_headers"] = signed_headers
        fields["payload_mode"] = payload_mode
        fields["decoded_content_length"] = decoded_content_length
        fields["signed_at"] = signed_at
        fields["expires_at"] = expires_at
        fields["checksum_algorithm"] = checksum_algorithm
        fields["security_token"] = security_token
        fields["content_encoding"] = content_encoding
        fields["service"] = service
        return instance

