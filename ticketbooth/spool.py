"""Receiving an upload: one pass over the verified body that hashes it, enforces the write budget and writes
it to a spool file the caller owns.

Every write path uses it: the embedded backend's ``.spool`` file, the iRODS backend's temporary file and a
multipart part's file. The caller makes the finished file visible (embedded: a rename; iRODS: a copy as the
ticket's owner with the MD5 registered; multipart: a rename into the upload's directory) only after
:func:`receive` has returned, so a body that fails a check, runs over its budget or ends early leaves nothing
visible.

What one pass means: each block is read from the body into one reused buffer (``readinto``, no ``bytes`` object
per read), hashed there — the MD5 (the S3 ETag, the iRODS checksum, the check of ``Content-MD5``) once, and each
other checksum the request names or the object keeps (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) once — and written
from there with ``os.write``. A checksum the aws-chunked decoder already verified in its trailer is taken from
the decoder rather than computed a second time.
"""
from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import hmac
import mmap
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from .errors import InvalidRequest
from .sigv4.checksums import Checksum, ContentCheck, new_checksum

__all__ = ["CHUNK_BYTES", "MIN_PIECE", "DIRECT_BYTES", "UploadBody", "Received", "receive"]

#: Bytes asked of the body per step, at most: one ``recv_into`` takes all the socket holds up to this, and each
#: piece is hashed as it came. 4 MiB steps cost 0.2-0.3 s less CPU per GiB than 256 KiB ones on this project's
#: VM (fewer receive calls, window updates and hash calls; benchmarks/bench_upload.py).
CHUNK_BYTES = 4 * 1024 * 1024
#: Pieces shorter than this are gathered before they are hashed and written (fewer calls per byte).
MIN_PIECE = 64 * 1024
#: The block written at once with ``O_DIRECT`` (a multiple of every device's block size): 4 MiB writes cost
#: half the CPU of 1 MiB ones (fewer requests to the device, fewer waits for their completion).
DIRECT_BYTES = 4 * 1024 * 1024


class UploadBody:
    """A verified request body with what to compute over it while it is received.

    ``raw``: the verifying stream (``ticketbooth.sigv4``'s body, or any readable binary stream); ``checks``: the
    digests the client announced (``Content-MD5``, ``x-amz-checksum-*``), compared when ``raw`` ends, raising
    the check's error (``BadDigest``) from that read; ``keep``: a checksum algorithm whose value is wanted
    afterwards (:meth:`checksum`); ``verified_trailer``: the algorithm ``raw`` verifies in its own trailer
    (its value is then read from ``raw.trailing_checksum`` instead of being computed again).

    Reading is ``readinto`` only: each call hands out what the body gave (at least :data:`MIN_PIECE` bytes, or
    the buffer's size, or the rest of the body) and hashes it there.
    """

    def __init__(self, raw: BinaryIO, *, checks: Sequence[ContentCheck] = (), keep: str | None = None,
                 verified_trailer: str | None = None) -> None:
        self._raw = raw
        self._readinto = getattr(raw, "readinto", None)
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._digests: dict[str, Checksum] = {"MD5": self._md5}
        self._trailer = verified_trailer
        for algorithm in [c.algorithm for c in checks] + ([keep] if keep else []):
            if algorithm not in self._digests and algorithm != verified_trailer:
                self._digests[algorithm] = new_checksum(algorithm)
        # A trailer-verified algorithm that is also announced in a header is still compared with the header.
        if verified_trailer and any(c.algorithm == verified_trailer for c in checks):
            self._digests[verified_trailer] = new_checksum(verified_trailer)
            self._trailer = None
        self._updates = tuple(d.update for d in self._digests.values())
        self._checks = tuple(checks)
        self._error: Exception | None = None
        self._done = False
        self.size = 0

    def readinto(self, buffer: Any) -> int:
        """Read at least ``min(MIN_PIECE, len(buffer))`` bytes into ``buffer`` (fewer only at the body's end) and
        hash them; 0 at the end, after the checks passed. A failed check (or the body's own error) is raised now and by every later call."""
        if self._error is not None:
            raise self._error
        if self._done:
            return 0
        view = memoryview(buffer).cast("B")
        size = len(view)
        filled = 0
        ended = False
        try:
            while filled < MIN_PIECE and filled < size:
                count = self._fill(view[filled:] if filled else view)
                if not count:
                    ended = True
                    break
                filled += count
            if filled:  # one update per digest for the whole piece
                data = view[:filled] if filled < size else view
                for update in self._updates:
                    update(data)
                self.size += filled
            if ended:
                self._finish()
        except Exception as err:
            self._error = err
            raise
        return filled

    def _fill(self, view: memoryview) -> int:
        if self._readinto is not None:
            try:
                return self._readinto(view) or 0
            except NotImplementedError:  # io.RawIOBase's own readinto, on a stream that only defines read
                self._readinto = None
        data = self._raw.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._done = True
        for check in self._checks:
            if not hmac.compare_digest(self._digests[check.algorithm].digest(), check.expected):
                raise check.error

    @property
    def md5_hex(self) -> str:
        """The hex MD5 of what was read so far (the whole body once :func:`receive` returned)."""
        return self._md5.hexdigest()

    def checksum(self, algorithm: str) -> str | None:
        """The base64 value of ``algorithm`` (one named in ``checks``/``keep``) over the body read to its end."""
        if algorithm == self._trailer:
            return getattr(self._raw, "trailing_checksum", None)
        digest = self._digests.get(algorithm)
        if digest is None:
            return None
        return base64.b64encode(digest.digest()).decode("ascii")


@dataclass(frozen=True)
class Received:
    """What :func:`receive` wrote: ``size`` bytes whose hex MD5 is ``md5``."""

    size: int
    md5: str


def receive(stream: BinaryIO | UploadBody, fd: int, *, size: int | None, max_bytes: int | None,
            too_big: Callable[[], Exception], sync: bool = True, direct: bool = False) -> Received:
    """Read ``stream`` to its end into the open file ``fd`` (at its position), hashing it in the same pass.

    ``stream``: an :class:`UploadBody` (its checks and checksums are computed in this pass too) or any readable
    binary stream (wrapped in one). Raises ``too_big()`` as soon as more than ``max_bytes`` bytes arrived
    (``None``: no cap) — the rest is not read; ``InvalidRequest`` when ``size`` is given and the body's length
    differs; any error of the stream (a signature or checksum that does not match) propagates. With ``sync``,
    ``fsync`` before returning. The caller removes the file on error: nothing here makes anything visible.

    ``direct`` (for a new, empty file that is not read back soon): the bytes go to disk with ``O_DIRECT`` in
    whole :data:`DIRECT_BYTES` blocks from a page-aligned buffer, by DMA instead of a copy into the page cache,
    the tail through the page cache; where the file system refuses ``O_DIRECT`` they are written as usual.
    Pieces are still hashed as they arrive. On this project's VM, buffered writes and ``fsync`` of 1 GiB cost
    0.2 to 2.4 s of CPU depending on the kernel's writeback, direct ones about 0.1 s.
    """
    body = stream if isinstance(stream, UploadBody) else UploadBody(stream)
    direct = direct and _set_direct(fd, True)
    buffer = mmap.mmap(-1, DIRECT_BYTES)  # page-aligned, as O_DIRECT needs
    view = memoryview(buffer)
    total = filled = 0
    while True:
        count = body.readinto(view[filled:filled + CHUNK_BYTES])
        if not count:
            break
        total += count
        if max_bytes is not None and total > max_bytes:
            raise too_big()
        if not direct:
            _write_all(fd, view[:count])
            continue
        filled += count
        if filled == DIRECT_BYTES:
            direct = _write_direct(fd, view)
            filled = 0
    if filled:
        _set_direct(fd, False)  # the tail is not a whole block
        _write_all(fd, view[:filled])
    # The buffer is unmapped when the last view of it goes (not closed here: a traceback may still hold one).
    if sync:
        os.fsync(fd)
    if size is not None and size != total:
        raise InvalidRequest("the body's length differs from the declared size", details={"size": size})
    return Received(total, body.md5_hex)


def _set_direct(fd: int, on: bool) -> bool:
    """Switch ``O_DIRECT`` on or off for ``fd``; False when the file system does not allow it."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return on


def _write_direct(fd: int, block: memoryview) -> bool:
    """Write a whole aligned block with O_DIRECT; falls back to ordinary writes (returns False) when the file
    system refuses it or writes only part of it (the rest would no longer be aligned)."""
    try:
        written = os.write(fd, block)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        written = 0
    if written == len(block):
        return True
    _set_direct(fd, False)
    _write_all(fd, block[written:])
    return False


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]
