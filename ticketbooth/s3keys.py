"""Derive the S3 key pair bound to a (ticket, holder): pure, stateless and shared by every instance.

Nothing is stored. The access key id carries the ticket id and the holder's name, plus a short tag
(HMAC under the deployment's master key) so that forged ids are refused before any backend lookup. The secret is
an HMAC under the same master key of the ticket id, the ticket string and the holder. Any instance that holds
the master key (configuration) and can read the ticket (the iRODS catalog, or the embedded database) derives
the same pair; when the ticket is revoked nothing is left to derive it from, so the key dies with it.
Changing the master key invalidates every key pair at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["ACCESS_KEY_PREFIX", "KeyIdentity", "MAX_ACCESS_KEY_ID_CHARS", "MIN_MASTER_KEY_BYTES", "access_key_id", "parse_access_key_id",
           "secret_access_key"]

ACCESS_KEY_PREFIX = "TB"
MIN_MASTER_KEY_BYTES = 32
_VERSION = 1
_TAG_BYTES = 5
_SECRET_CHARS = 40
MAX_ACCESS_KEY_ID_CHARS = 512


@dataclass(frozen=True)
class KeyIdentity:
    """What an access key id names: a ticket and the holder the pair was minted for."""

    ticket_id: int
    holder: str


def _check_master(master_key: bytes) -> None:
    if len(master_key) < MIN_MASTER_KEY_BYTES:
        raise ValueError(f"the S3 master key must be at least {MIN_MASTER_KEY_BYTES} bytes")


def _tag(master_key: bytes, body: bytes) -> bytes:
    return hmac.new(master_key, b"ticketbooth-akid\x00" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def _body(ticket_id: int, holder: str) -> bytes:
    if ticket_id < 0 or ticket_id >= 2**63:
        raise ValueError("ticket id out of range")
    raw_id = ticket_id.to_bytes(max(1, (ticket_id.bit_length() + 7) // 8), "big")
    return bytes([_VERSION, len(raw_id)]) + raw_id + holder.encode("utf-8")


def access_key_id(master_key: bytes, ticket_id: int, holder: str) -> str:
    """The access key id for ``holder`` on ticket ``ticket_id``: ``TB`` and upper-case base32, no padding.

    ``ValueError`` when the holder's name is too long for an id :func:`parse_access_key_id` accepts.
    """
    _check_master(master_key)
    body = _body(ticket_id, holder)
    key_id = ACCESS_KEY_PREFIX + base64.b32encode(body + _tag(master_key, body)).decode("ascii").rstrip("=")
    if len(key_id) > MAX_ACCESS_KEY_ID_CHARS:
        raise ValueError("holder name too long for an access key id")
    return key_id


def parse_access_key_id(master_key: bytes, key_id: str) -> KeyIdentity | None:
    """The identity an access key id names, or ``None`` when it is not one this master key minted.

    The tag is compared in constant time; any malformed input yields ``None``, never an exception.
    """
    _check_master(master_key)
    if not isinstance(key_id, str) or not key_id.startswith(ACCESS_KEY_PREFIX) or len(key_id) > MAX_ACCESS_KEY_ID_CHARS:
        return None
    text = key_id[len(ACCESS_KEY_PREFIX):]
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8), casefold=False)
    except (ValueError, TypeError):
        return None
    if len(raw) < 3 + _TAG_BYTES:
        return None
    body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(master_key, body)):
        return None
    if body[0] != _VERSION or len(body) < 2 + body[1] or body[1] == 0:
        return None
    id_len = body[1]
    try:
        holder = body[2 + id_len:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not holder:
        return None
    return KeyIdentity(int.from_bytes(body[2:2 + id_len], "big"), holder)


def secret_access_key(master_key: bytes, ticket_id: int, ticket_string: str, holder: str) -> str:
    """The secret access key for ``holder`` on the ticket: 40 URL-safe base64 characters, never stored."""
    _check_master(master_key)
    message = b"\x00".join((b"ticketbooth-s3-secret-v1", str(ticket_id).encode(), ticket_string.encode(),
                            holder.encode("utf-8")))
    digest = hmac.new(master_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:_SECRET_CHARS]
