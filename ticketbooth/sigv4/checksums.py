"""Payload checksums S3 knows (CRC32, CRC32C, CRC64NVME, SHA1, SHA256, and Content-MD5), and a
stream wrapper that verifies ``Content-MD5`` / ``x-amz-checksum-<algorithm>`` request headers
while the body is read.

CRC32C and CRC64NVME come from ``awscrt`` (imported on first use only).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from .canonical import HeaderInput, HeaderMap, collect_headers
from .errors import BadDigest, InvalidDigest, InvalidRequest, PayloadError, S3AuthError

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "Checksum",
    "new_checksum",
    "checksum_header",
    "decode_checksum",
    "ContentCheck",
    "content_checks",
    "ContentChecksStream",
    "with_content_checks",
]

# Algorithm name (as in x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm) -> digest size.
CHECKSUM_ALGORITHMS: dict[str, int] = {
    "CRC32": 4,
    "CRC32C": 4,
    "CRC64NVME": 8,
    "SHA1": 20,
    "SHA256": 32,
}


class Checksum(Protocol):
    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    __slots__ = ("_fn", "_value", "_size")

    def __init__(self, fn: Callable[[Any, int], int], size: int) -> None:
        self._fn = fn
        self._value = 0
        self._size = size

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def _awscrt_checksums() -> Any:
    try:
        from awscrt import checksums
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise InvalidRequest("this server cannot verify CRC32C/CRC64NVME checksums (awscrt missing)") from err
    return checksums


def new_checksum(algorithm: str) -> Checksum:
    """A fresh incremental checksum for ``algorithm`` (one of :data:`CHECKSUM_ALGORITHMS`, or MD5)."""
    algorithm = algorithm.upper()
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(_awscrt_checksums().crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(_awscrt_checksums().crc64nvme, 8)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    if algorithm == "MD5":
        return hashlib.md5()
    raise InvalidRequest(f"unsupported checksum algorithm {algorithm!r}")


def checksum_header(algorithm: str) -> str:
    """The header (or trailer) name carrying ``algorithm``'s value, e.g. ``x-amz-checksum-crc32c``."""
    return "x-amz-checksum-" + algorithm.lower()


def decode_checksum(
    algorithm: str, value: str | bytes, error: type[S3AuthError] = InvalidRequest
) -> bytes:
    """Decode a base64 checksum value, checking it has ``algorithm``'s size.

    Raises:
        ``error`` (InvalidRequest by default): not base64 or the wrong length.
    """
    size = 16 if algorithm.upper() == "MD5" else CHECKSUM_ALGORITHMS[algorithm.upper()]
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"the {algorithm} checksum value is not valid base64") from None
    if len(raw) != size:
        raise error(f"the {algorithm} checksum value has the wrong length")
    return raw


class ContentChecksStream(io.RawIOBase):
    """Wraps a readable binary stream; at EOF compares running checksums with expected values.

    Raises (from ``read`` at EOF) the error given with each check, typically BadDigest.
    """

    def __init__(self, raw: BinaryIO, checks: list[tuple[Checksum, bytes, PayloadError]]) -> None:
        super().__init__()
        self._raw = raw
        self._checks = checks
        self._error: S3AuthError | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if self._done:
            return b""
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        if data:
            for checksum, _, _ in self._checks:
                checksum.update(data)
            if size is None or size < 0:
                self._finish()
            return data
        if size == 0:
            return b""
        self._finish()
        return b""

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._done = True
        for checksum, expected, error in self._checks:
            if not hmac.compare_digest(checksum.digest(), expected):
                self._error = error
                raise error

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # Expose the wrapped body's extras (trailing_checksum, bytes_read, ...).
        return getattr(self._raw, name)


def _as_header_map(headers: HeaderInput | HeaderMap) -> HeaderMap:
    if isinstance(headers, dict) and all(isinstance(v, list) for v in headers.values()):
        return headers  # already grouped by collect_headers
    return collect_headers(headers)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ContentCheck:
    """A digest the client announced for the body: ``algorithm`` (``MD5`` for Content-MD5, else one of
    :data:`CHECKSUM_ALGORITHMS`), the ``expected`` raw digest, and the ``error`` to raise when it differs."""

    algorithm: str
    expected: bytes
    error: PayloadError


def content_checks(headers: HeaderInput | HeaderMap) -> list[ContentCheck]:
    """The ``Content-MD5`` and ``x-amz-checksum-*`` checks a request's headers announce (none: ``[]``).

    Raises InvalidDigest for a malformed or repeated ``Content-MD5``, InvalidRequest for a malformed or
    repeated ``x-amz-checksum-*`` value or more than one algorithm.
    """
    grouped = _as_header_map(headers)
    checks: list[ContentCheck] = []
    md5 = grouped.get("content-md5")
    if md5 is not None:
        if len(md5) != 1:
            raise InvalidDigest("Content-MD5 is repeated")
        expected = decode_checksum("MD5", md5[0], InvalidDigest)
        checks.append(ContentCheck("MD5", expected, BadDigest("The Content-MD5 you specified did not match what "
                                                              "we received.")))
    found = [name for name in grouped if name.startswith("x-amz-checksum-") and name != "x-amz-checksum-type"]
    if len(found) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    if found:
        algorithm = found[0][len("x-amz-checksum-") :].upper()
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise InvalidRequest(f"unsupported checksum header {found[0]}")
        values = grouped[found[0]]
        if len(values) != 1:
            raise InvalidRequest(f"{found[0]} is repeated")
        expected = decode_checksum(algorithm, values[0])
        checks.append(ContentCheck(algorithm, expected, BadDigest(f"The {algorithm} you specified did not match "
                                                                  "the calculated checksum.")))
    return checks


def with_content_checks(body: BinaryIO, headers: HeaderInput | HeaderMap) -> BinaryIO:
    """Wrap ``body`` so that reading it to EOF verifies ``Content-MD5`` and ``x-amz-checksum-*``.

    Headers are validated now (see :func:`content_checks`); a mismatch at EOF raises BadDigest. Returns
    ``body`` unchanged when there is nothing to check.
    """
    checks = [(new_checksum(c.algorithm), c.expected, c.error) for c in content_checks(headers)]
    if not checks:
        return body
    return ContentChecksStream(body, checks)  # type: ignore[return-value]
