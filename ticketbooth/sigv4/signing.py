"""SigV4 key derivation, a bounded cache of derived signing keys, and HMAC helpers.

Deriving a signing key costs four HMACs; a gateway sees the same (secret, day, region, service)
over and over, so derived keys are kept in a small LRU. The cache is keyed by the secret itself
(not by the access key id) so that a rotated or revoked secret can never reuse a stale key.
"""
from __future__ import annotations

import hmac
import threading
from collections import OrderedDict

__all__ = [
    "DUMMY_SECRET",
    "derive_signing_key",
    "signing_key",
    "hmac_sha256",
    "hmac_sha256_hex",
    "signatures_equal",
    "clear_signing_key_cache",
    "SIGNING_KEY_CACHE_SIZE",
]

# Used when the access key is unknown so the rejection costs the same work as a real check.
DUMMY_SECRET = "TicketBooth/unknown-access-key/0000000000"

SIGNING_KEY_CACHE_SIZE = 4096

_cache: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
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


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """:func:`derive_signing_key` through a thread-safe LRU of ``SIGNING_KEY_CACHE_SIZE`` entries."""
    cache_key = (secret, date, region, service)
    with _lock:
        key = _cache.get(cache_key)
        if key is not None:
            _cache.move_to_end(cache_key)
            return key
    key = derive_signing_key(secret, date, region, service)
    with _lock:
        _cache[cache_key] = key
        if len(_cache) > SIGNING_KEY_CACHE_SIZE:
            _cache.popitem(last=False)
    return key


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
