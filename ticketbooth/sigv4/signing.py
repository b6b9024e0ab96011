"""SigV4 key derivation, a bounded cache of derived signing keys, and HMAC helpers.

Deriving a signing key costs four HMACs; a gateway sees the same (secret, day, region, service)
over and over, so derived keys are kept in a small bounded cache. The cache is keyed by the secret itself
(not by the access key id) so that a rotated or revoked secret can never reuse a stale key.
"""
from __future__ import annotations

import hashlib
import hmac
import threading

__all__ = [
    "DUMMY_SECRET",
    "derive_signing_key",
    "signing_key",
    "hmac_sha256",
    "hmac_sha256_hex",
    "signatures_equal",
    "Signer",
    "signer",
    "clear_signing_key_cache",
    "SIGNING_KEY_CACHE_SIZE",
]

# Used when the access key is unknown so the rejection costs the same work as a real check.
DUMMY_SECRET = "TicketBooth/unknown-access-key/0000000000"

SIGNING_KEY_CACHE_SIZE = 4096

_cache: dict[tuple[str, str, str, str], Signer] = {}
_lock = threading.Lock()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    return hmac.digest(key, message, "sha256").hex()


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4 step 3: ``kSigning`` for ``secret`` on ``date`` (YYYYMMDD), uncached."""
    k_date = hmac.digest(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), "sha256")
    k_region = hmac.digest(k_date, region.encode("utf-8"), "sha256")
    k_service = hmac.digest(k_region, service.encode("utf-8"), "sha256")
    return hmac.digest(k_service, b"aws4_request", "sha256")


class Signer:
    """A derived signing key with its HMAC-SHA256 pads already hashed (RFC 2104).

    ``hexdigest(message)`` equals ``hmac.new(key, message, sha256).hexdigest()`` and costs
    two ``hashlib`` state copies instead of setting up an HMAC context per message.
    ``prefixed(prefix)`` is a Signer whose messages all start with ``prefix`` (hashed once: the
    aws-chunked chunk string to sign starts with the same algorithm, date and scope every time).
    """

    __slots__ = ("key", "_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        self.key = key
        padded = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def prefixed(self, prefix: bytes) -> Signer:
        other = object.__new__(Signer)
        other.key = self.key
        other._inner = self._inner.copy()
        other._inner.update(prefix)
        other._outer = self._outer
        return other

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def hexdigest_of_parts(self, *parts: bytes) -> str:
        """``hexdigest(b"".join(parts))`` without joining."""
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def signer(secret: str, date: str, region: str, service: str) -> Signer:
    """The :class:`Signer` of :func:`derive_signing_key`, from a bounded cache keyed by the secret
    itself (``SIGNING_KEY_CACHE_SIZE`` entries, oldest dropped first).

    Reads take no lock (a dict lookup is atomic); inserting and evicting do.
    """
    cache_key = (secret, date, region, service)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    found = Signer(derive_signing_key(secret, date, region, service))
    with _lock:
        _cache[cache_key] = found
        while len(_cache) > SIGNING_KEY_CACHE_SIZE:
            del _cache[next(iter(_cache))]
    return found


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """:func:`derive_signing_key` through the same LRU as :func:`signer`."""
    return signer(secret, date, region, service).key


def clear_signing_key_cache() -> None:
    """Forget every cached signing key (e.g. after mass key revocation)."""
    with _lock:
        _cache.clear()


def signatures_equal(provided: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two signatures (hex or base64 text)."""
    if isinstance(provided, str):
        provided = provided.encode("latin-1", "replace")
    if isinstance(expected, str):
        expected = expected.encode("ascii")
    return hmac.compare_digest(provided, expected)
