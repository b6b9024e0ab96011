"""The checksums S3 keeps with an object and echoes (``x-amz-checksum-*``): which algorithm a request asks for,
the value of a body, and the composite value of a multipart object. No I/O beyond the streams handed in.

The values themselves are computed over the bytes stored, in the pass that spools them (``ticketbooth.spool``);
where the client sent one, it has been checked against it, so they are the client's values. A multipart object's checksum is, as in S3, either ``COMPOSITE`` — the
algorithm over the concatenated part digests, shown as ``<base64>-<parts>`` — or ``FULL_OBJECT`` (CRC
algorithms only): the algorithm over all the bytes.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from ..s3.errors import S3Error
from ..sigv4.checksums import CHECKSUM_ALGORITHMS, checksum_header, new_checksum

__all__ = ["ALGORITHMS", "requested", "upload_checksum", "PartChecker", "composite", "encode",
           "response_headers"]

ALGORITHMS = tuple(CHECKSUM_ALGORITHMS)
_FULL_OBJECT_ALGORITHMS = frozenset({"CRC32", "CRC32C", "CRC64NVME"})


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _algorithm(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().upper()
    if name not in CHECKSUM_ALGORITHMS:
        raise S3Error("InvalidRequest", 400, f"Checksum algorithm {value.strip()[:32]!r} is not supported; "
                      f"use one of {', '.join(ALGORITHMS)}.")
    return name


def requested(headers: Mapping[str, str]) -> str | None:
    """The checksum algorithm a write request (PutObject, UploadPart) carries: an ``x-amz-checksum-<algorithm>``
    header or trailer, else ``x-amz-sdk-checksum-algorithm``; ``None`` when it names none. ``headers`` maps
    lower-case names to values."""
    for name in ALGORITHMS:
        if checksum_header(name) in headers:
            return name
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    for name in ALGORITHMS:
        if trailer == checksum_header(name):
            return name
    return _algorithm(headers.get("x-amz-sdk-checksum-algorithm") or headers.get("x-amz-checksum-algorithm"))


def upload_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """``(algorithm, type)`` a CreateMultipartUpload asks for (``x-amz-checksum-algorithm``,
    ``x-amz-checksum-type``: ``COMPOSITE``, the default except for CRC64NVME, or ``FULL_OBJECT``)."""
    algorithm = _algorithm(headers.get("x-amz-checksum-algorithm"))
    kind = (headers.get("x-amz-checksum-type") or "").strip().upper() or None
    if algorithm is None:
        if kind is not None:
            raise S3Error("InvalidRequest", 400, "x-amz-checksum-type needs x-amz-checksum-algorithm.")
        return None
    kind = kind or ("FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
    if (kind not in ("COMPOSITE", "FULL_OBJECT") or (kind == "FULL_OBJECT" and algorithm not in
                                                     _FULL_OBJECT_ALGORITHMS)
            or (kind == "COMPOSITE" and algorithm == "CRC64NVME")):
        raise S3Error("InvalidRequest", 400, f"The {kind[:32]} checksum type is not supported for {algorithm}.")
    return algorithm, kind


def composite(algorithm: str, part_digests: Sequence[bytes]) -> str:
    """S3's composite checksum: ``algorithm`` over the concatenated part digests, base64, ``-<parts>``."""
    outer = new_checksum(algorithm)
    outer.update(b"".join(part_digests))
    return f"{encode(outer.digest())}-{len(part_digests)}"


class PartChecker:
    """A read-through stream over a multipart object's parts (of ``sizes``) that computes each part's digest,
    compares it with the value the CompleteMultipartUpload named for it (``expected``: base64 or ``None``), and
    the whole object's for ``FULL_OBJECT``. A mismatch raises ``S3Error(InvalidPart)`` from ``read`` — before
    the backend makes anything visible."""

    def __init__(self, raw: BinaryIO, sizes: Sequence[int], numbers: Sequence[int], algorithm: str,
                 expected: Sequence[str | None]) -> None:
        self._raw, self._sizes, self._numbers, self._expected = raw, list(sizes), list(numbers), list(expected)
        self.algorithm = algorithm
        self.part_digests: list[bytes] = []
        self._whole = new_checksum(algorithm)
        self._part = new_checksum(algorithm)
        self._left = self._sizes[0] if self._sizes else 0
        self._finish_empty_parts()

    def _finish_part(self) -> None:
        index = len(self.part_digests)
        digest = self._part.digest()
        wanted = self._expected[index] if index < len(self._expected) else None
        if wanted is not None and encode(digest) != wanted.strip():
            raise S3Error("InvalidPart", 400, f"The {self.algorithm} checksum of part {self._numbers[index]} does "
                          "not match the value sent for it.", details={"PartNumber": str(self._numbers[index])})
        self.part_digests.append(digest)
        self._part = new_checksum(self.algorithm)
        if len(self.part_digests) < len(self._sizes):
            self._left = self._sizes[len(self.part_digests)]

    def _finish_empty_parts(self) -> None:
        while self._left == 0 and len(self.part_digests) < len(self._sizes):
            self._finish_part()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        view = memoryview(data)
        while view:
            take = view[:self._left] if self._left else view
            self._part.update(bytes(take))
            self._whole.update(bytes(take))
            self._left -= len(take)
            view = view[len(take):]
            self._finish_empty_parts()
        return data

    def readable(self) -> bool:
        return True

    def whole(self) -> str:
        return encode(self._whole.digest())


def response_headers(algorithm: str | None, value: str | None, kind: str | None) -> dict[str, str]:
    """``x-amz-checksum-<algorithm>`` and ``x-amz-checksum-type`` for a stored checksum (none when unknown)."""
    if not algorithm or not value:
        return {}
    headers = {checksum_header(algorithm): value}
    if kind:
        headers["x-amz-checksum-type"] = kind
    return headers
