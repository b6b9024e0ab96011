"""Shared test helpers: AWS example credentials, a fixed clock, request builders and signers."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from ticketbooth.sigv4.signing import derive_signing_key

# AWS documentation example credentials (S3 API reference, "Signature Calculations" examples).
DOC_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def lookup(table: dict[str, str]):
    return table.get


def doc_lookup(key: str) -> str | None:
    return DOC_SECRET if key == DOC_KEY else None


def chunk_signature(key: bytes, stamp: str, scope: str, previous: str, data: bytes) -> str:
    """Reference chunk signer written from the S3 documentation (independent of the verifier)."""
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest()]
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def trailer_signature(key: bytes, stamp: str, scope: str, previous: str, trailer: bytes) -> str:
    to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", stamp, scope, previous, hashlib.sha256(trailer).hexdigest()])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def signed_chunks(
    secret: str, stamp: str, region: str, seed: str, pieces: list[bytes], trailer: bytes | None = None
) -> bytes:
    """Frame ``pieces`` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] (trailer: b"name:value")."""
    key = derive_signing_key(secret, stamp[:8], region, "s3")
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    out = []
    previous = seed
    for piece in [*pieces, b""]:
        previous = chunk_signature(key, stamp, scope, previous, piece)
        out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), previous.encode()))
        if piece:
            out.append(piece + b"\r\n")
    if trailer is None:
        out.append(b"\r\n")
    else:
        signature = trailer_signature(key, stamp, scope, previous, trailer + b"\n")
        out.append(trailer + b"\r\nx-amz-trailer-signature:" + signature.encode() + b"\r\n\r\n")
    return b"".join(out)
