"""Verifying body streams: a plain body (optionally checked against a literal SHA-256) and the
``aws-chunked`` decoder (chunk-signature chain, signed trailer, trailing checksum).

Both are read-only binary streams (``read(n)``, ``readinto``, usable with ``shutil.copyfileobj``).
Reading to EOF (until ``read`` returns ``b""``) verifies everything; a failure raises an
:class:`~ticketbooth.sigv4.errors.S3AuthError` and every later read raises it again.

Memory is bounded: the plain stream holds nothing beyond what the caller asked for, the
aws-chunked decoder at most one chunk (``MAX_CHUNK_SIZE``) plus a small read-ahead. A signed
chunk is released only after its signature has been checked.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import re
from typing import Any

from .canonical import EMPTY_SHA256
from .checksums import Checksum, decode_checksum, new_checksum
from .errors import (
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    S3AuthError,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from .signing import Signer

__all__ = [
    "MAX_CHUNK_SIZE",
    "MAX_CHUNK_HEADER",
    "MAX_TRAILER_SIZE",
    "BodySource",
    "VerifiedBody",
    "PlainBody",
    "AwsChunkedBody",
]

MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_LINE = 4096
# A chunk header is at most 8 hex digits + ";chunk-signature=" + 64 hex digits (89 bytes).
MAX_CHUNK_HEADER = 128
MAX_TRAILER_SIZE = 16 * 1024
_READ_AHEAD = 256
_JOIN_LIMIT = 64 * 1024  # read(n) joins small chunks up to this many bytes per call
_COPY_SIZE = 1024 * 1024

_SIGNED_CHUNK_LINE = re.compile(rb"([0-9a-fA-F]{1,8});chunk-signature=([0-9a-f]{64})")
_UNSIGNED_CHUNK_LINE = re.compile(rb"[0-9a-fA-F]{1,8}")
_TRAILER_NAME = re.compile(rb"[a-z0-9\-]{1,64}")
_EMPTY_HASH = EMPTY_SHA256.encode("ascii")
_EMPTY_HASH_LINE = b"\n" + _EMPTY_HASH + b"\n"


class BodySource:
    """The raw request body: bytes or a readable binary file-like, read at most ``limit`` bytes.

    ``limit`` is the Content-Length when known: a WSGI input must not be read past it.
    """

    __slots__ = ("_read", "_readinto", "remaining")

    def __init__(self, body: Any, limit: int | None) -> None:
        if type(body) is bytes or isinstance(body, (bytearray, memoryview)):
            if limit is None:
                limit = len(body) if type(body) is bytes else memoryview(body).nbytes
            body = io.BytesIO(body)
        elif body is None:
            body = io.BytesIO(b"")
        self._read = body.read
        self._readinto = getattr(body, "readinto", None)
        self.remaining = limit

    def readinto(self, view: memoryview) -> int:
        """Read into ``view`` (straight from the source when it has ``readinto``)."""
        remaining = self.remaining
        if remaining is not None and len(view) > remaining:
            view = view[:remaining]
        if not len(view):
            return 0
        if self._readinto is not None:
            count = self._readinto(view) or 0
        else:
            data = self._read(len(view))
            count = len(data)
            view[:count] = data
        if remaining is not None:
            self.remaining = remaining - count
        return count

    def read(self, size: int) -> bytes:
        remaining = self.remaining
        if remaining is None:
            return self._read(size)
        if size > remaining:
            size = remaining
        if size <= 0:
            return b""
        data = self._read(size)
        self.remaining = remaining - len(data)
        return data


class VerifiedBody(io.RawIOBase):
    """Base of the verifying streams. ``bytes_read`` counts decoded bytes handed out so far."""

    # Slots: a body is built for every request, and slot stores are cheaper than __dict__ ones.
    __slots__ = ("_error", "_done", "bytes_read", "trailing_checksum", "trailers")

    def __init__(self) -> None:
        # No super().__init__(): io.RawIOBase has no initializer of its own (object's).
        self._error: S3AuthError | None = None
        self._done = False
        self.bytes_read = 0
        self.trailing_checksum: str | None = None
        self.trailers: dict[str, str] = {}

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while True:
            data = self.read(_COPY_SIZE)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _fail(self, error: S3AuthError) -> S3AuthError:
        self._error = error
        return error


class PlainBody(VerifiedBody):
    """An un-framed body; with ``expected_sha256`` its SHA-256 is checked at EOF.

    Raises at EOF: IncompleteBody (fewer bytes than Content-Length), XAmzContentSHA256Mismatch.
    """

    __slots__ = ("_source", "_expected", "_hasher")

    def __init__(self, source: BodySource, expected_sha256: str | None) -> None:
        # Every slot set here rather than through VerifiedBody.__init__: one body per request.
        self._error: S3AuthError | None = None
        self._done = False
        self.bytes_read = 0
        self.trailing_checksum: str | None = None
        self.trailers: dict[str, str] = {}
        self._source = source
        self._expected = expected_sha256
        self._hasher: Any = None  # made by the first byte read: most bodies checked are empty

    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if size is None or size < 0:
            return self.readall()
        if self._done or size == 0:
            return b""
        data = self._source.read(size)
        if data:
            if self._expected is not None:
                if self._hasher is None:
                    self._hasher = hashlib.sha256(data)
                else:
                    self._hasher.update(data)
            self.bytes_read += len(data)
            return data
        self._finish()
        return b""

    def readinto(self, buffer: Any) -> int:
        # Straight from the source into the caller's buffer: no bytes object per read.
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        if self._done or not len(view):
            return 0
        count = self._source.readinto(view)
        if count:
            if self._expected is not None:
                if self._hasher is None:
                    self._hasher = hashlib.sha256(view[:count])
                else:
                    self._hasher.update(view[:count])
            self.bytes_read += count
            return count
        self._finish()
        return 0

    def _finish(self) -> None:
        self._done = True
        if self._source.remaining:
            raise self._fail(IncompleteBody("the body is shorter than its Content-Length"))
        expected = self._expected
        if expected is not None and not hmac.compare_digest(
            self._hasher.hexdigest().encode() if self._hasher is not None else _EMPTY_HASH,
            expected.encode("ascii"),
        ):
            raise self._fail(
                XAmzContentSHA256Mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
            )


class AwsChunkedBody(VerifiedBody):
    """Decoder of ``Content-Encoding: aws-chunked`` bodies.

    Args:
        source: the raw (framed) body.
        decoded_length: ``x-amz-decoded-content-length``; the decoded size must equal it.
        signing_key, amz_date, scope, seed_signature: for signed modes (chunk signature chain
            seeded by the request signature); ``signing_key=None`` for unsigned chunks.
        trailer_algorithm: the checksum named by ``x-amz-trailer`` (e.g. ``"CRC32C"``) or None.
        signed_trailer: the trailer carries ``x-amz-trailer-signature``.

    Decoding is one loop over chunks (never recursive), linear in bytes and chunks whatever
    the read size: ``read(n)`` hands out the source's own bytes (no copy within a chunk, small
    chunks joined up to 64 KiB), ``readinto`` copies each byte once into the caller's buffer,
    and hashing works on those very bytes (memoryviews). Data is handed out as it arrives: a
    chunk's signature is checked when its last byte is read, the trailer and the length at the
    final chunk, so a consumer treats what it got as provisional until ``read`` returns ``b""``
    (every TicketBooth writer commits only then).

    Chunks of any size are accepted: S3's 8 KiB minimum for non-final chunks is not enforced,
    because the AWS SDK for JavaScript v3 sends one chunk per piece its body stream yields
    (a few bytes each for small-piece streams) and works against MinIO.

    Raises (while reading): SignatureDoesNotMatch (chunk or trailer signature), BadDigest
    (trailing checksum), IncompleteBody (truncated or malformed framing, a chunk header longer
    than MAX_CHUNK_HEADER, length mismatch), InvalidArgument (chunk over MAX_CHUNK_SIZE),
    InvalidRequest (trailer missing or unexpected).
    """

    def __init__(
        self,
        source: BodySource,
        *,
        decoded_length: int,
        signing_key: bytes | None = None,
        amz_date: str = "",
        scope: str = "",
        seed_signature: str = "",
        trailer_algorithm: str | None = None,
        signed_trailer: bool = False,
    ) -> None:
        super().__init__()
        self._source = source
        self._decoded_length = decoded_length
        self._key = signing_key
        self._stamp = f"{amz_date}\n{scope}\n".encode("ascii")
        self._chunk_prefix = b"AWS4-HMAC-SHA256-PAYLOAD\n" + self._stamp
        self._prev = seed_signature.encode("ascii")
        self._trailer_algorithm = trailer_algorithm
        self._signed_trailer = signed_trailer
        self._checksum: Checksum | None = new_checksum(trailer_algorithm) if trailer_algorithm else None
        self._buf = b""  # read-ahead of framing (and the first bytes of a chunk), at most a line
        self._bpos = 0
        self._left = 0  # bytes of the current chunk not yet handed out
        self._owed = False  # a chunk's data ended: its CRLF and signature check come with the next header
        self._hasher: Any = None  # SHA-256 of the current chunk (signed modes)
        self._signature = b""  # the current chunk's claimed signature
        self._total = 0
        # The key pads and the constant start of every chunk string to sign are hashed once.
        self._signer = Signer(signing_key).prefixed(self._chunk_prefix) if signing_key is not None else None

    # -- the stream ---------------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if size is None or size < 0:
            return self.readall()
        if size == 0 or self._done:
            return b""
        first = b""
        pieces: list[bytes] | None = None
        total = 0
        hasher, checksum = self._hasher, self._checksum
        try:
            while total < size:
                left = self._left
                if not left:
                    if not self._next_chunk():
                        break
                    left, hasher = self._left, self._hasher
                want = size - total
                if want > left:
                    want = left
                buf, pos = self._buf, self._bpos
                if pos < len(buf):
                    piece = buf[pos : pos + want]
                    self._bpos = pos + len(piece)
                else:
                    piece = self._source.read(want)
                    if not piece:
                        raise IncompleteBody("You did not provide the number of bytes specified by the chunk header")
                count = len(piece)
                if hasher is not None:
                    hasher.update(piece)
                if checksum is not None:
                    checksum.update(piece)
                self._left = left - count
                total += count
                if pieces is not None:
                    pieces.append(piece)
                elif first:
                    pieces = [first, piece]
                else:
                    first = piece
                if total >= _JOIN_LIMIT:
                    break
        except S3AuthError as error:
            raise self._fail(error) from None
        self.bytes_read += total
        return first if pieces is None else b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        size = len(view)
        filled = 0
        try:
            while filled < size and not self._done:
                left = self._left
                if not left:
                    if not self._next_chunk():
                        break
                    left = self._left
                want = min(size - filled, left)
                part = view[filled : filled + want]
                buf, pos = self._buf, self._bpos
                if pos < len(buf):
                    count = min(want, len(buf) - pos)
                    part[:count] = buf[pos : pos + count]
                    self._bpos = pos + count
                else:
                    count = self._source.readinto(part)
                    if not count:
                        raise IncompleteBody("You did not provide the number of bytes specified by the chunk header")
                if count < want:
                    part = part[:count]
                if self._hasher is not None:
                    self._hasher.update(part)
                if self._checksum is not None:
                    self._checksum.update(part)
                self._left = left - count
                filled += count
        except S3AuthError as error:
            raise self._fail(error) from None
        self.bytes_read += filled
        return filled

    # -- framing ------------------------------------------------------------------------------
    def _fill(self) -> bool:
        more = self._source.read(_READ_AHEAD)
        if not more:
            return False
        self._buf = self._buf[self._bpos :] + more if self._bpos < len(self._buf) else more
        self._bpos = 0
        return True

    def _read_line(self, limit: int = MAX_LINE, skip: int = 0) -> bytes:
        """The next CRLF-terminated line of at most ``limit`` bytes, after ``skip`` bytes (returned too)."""
        while True:
            buf, pos = self._buf, self._bpos
            end = buf.find(b"\r\n", pos + skip)
            if end >= 0:
                if end - pos - skip > limit:
                    break
                self._bpos = end + 2
                return buf[pos:end]
            if len(buf) - pos - skip > limit:
                break
            if not self._fill():
                raise IncompleteBody("the aws-chunked body ended in the middle of a chunk header")
        raise IncompleteBody("an aws-chunked header line is too long")

    def _next_chunk(self) -> bool:
        """Close the previous chunk (CRLF, signature) and parse the next header.

        False once the final chunk and the trailer are verified.
        """
        if self._owed:
            # The previous chunk's CRLF and this header: one line after two bytes, read ahead as needed
            # (inlined _read_line: this runs once per chunk).
            buf, pos = self._buf, self._bpos
            end = buf.find(b"\r\n", pos + 2)
            while end < 0 or end - pos - 2 > MAX_CHUNK_HEADER:
                if end >= 0 or len(buf) - pos - 2 > MAX_CHUNK_HEADER:
                    raise IncompleteBody("an aws-chunked header line is too long")
                more = self._source.read(_READ_AHEAD)
                if not more:
                    raise IncompleteBody("the aws-chunked body ended in the middle of a chunk header")
                buf = buf[pos:] + more if pos < len(buf) else more
                pos = 0
                end = buf.find(b"\r\n", 2)
            self._buf, self._bpos = buf, end + 2
            line = buf[pos:end]
            if line[:2] != b"\r\n":
                raise IncompleteBody("aws-chunked chunk data is not followed by CRLF")
            self._check_signature()
            line = line[2:]
        else:
            line = self._read_line(MAX_CHUNK_HEADER)
            self._owed = True
        if self._key is not None:
            match = _SIGNED_CHUNK_LINE.fullmatch(line)
            if match is None:
                raise IncompleteBody("malformed aws-chunked chunk header (expected <hex-size>;chunk-signature=<sig>)")
            hex_size, self._signature = match.groups()
            size = int(hex_size, 16)
            self._hasher = hashlib.sha256()
        else:
            if _UNSIGNED_CHUNK_LINE.fullmatch(line) is None:
                raise IncompleteBody("malformed aws-chunked chunk header (expected <hex-size>)")
            size = int(line, 16)
        if size > MAX_CHUNK_SIZE:
            raise InvalidArgument(f"aws-chunked chunk larger than {MAX_CHUNK_SIZE} bytes")
        total = self._total + size
        if total > self._decoded_length:
            raise IncompleteBody("the body is longer than x-amz-decoded-content-length")
        self._total = total
        if not size:
            self._owed = False
            self._check_signature()
            self._finish()
            return False
        self._left = size
        return True

    def _check_signature(self) -> None:
        if self._key is None:
            return
        # Chunk string to sign: algorithm, timestamp, scope (hashed once into _inner), previous
        # signature, hash of the empty string, hash of the chunk data.
        expected = self._signer.hexdigest(self._prev + _EMPTY_HASH_LINE + self._hasher.hexdigest().encode())
        if not hmac.compare_digest(expected.encode(), self._signature):
            raise SignatureDoesNotMatch("an aws-chunked chunk signature does not match")
        self._prev = self._signature

    def _finish(self) -> None:
        trailers = self._read_trailers()
        if self._trailer_algorithm is not None:
            self._check_trailers(trailers)
        elif trailers:
            raise InvalidRequest("the body carries trailers but none were declared in x-amz-trailer")
        if self._source.remaining is not None:
            extra = self._source.remaining > 0 or len(self._buf) > self._bpos
        else:
            extra = len(self._buf) > self._bpos or bool(self._source.read(1))
        if extra:
            raise IncompleteBody("unexpected data after the final aws-chunked chunk")
        if self._total != self._decoded_length:
            raise IncompleteBody("the decoded body is shorter than x-amz-decoded-content-length")
        self._done = True

    def _read_trailers(self) -> list[tuple[bytes, bytes]]:
        trailers = []
        size = 0
        while True:
            line = self._read_line()
            if not line:
                return trailers
            size += len(line) + 2
            if size > MAX_TRAILER_SIZE:
                raise InvalidArgument("the aws-chunked trailer is too large")
            name, sep, value = line.partition(b":")
            name = name.lower()
            if not sep or not _TRAILER_NAME.fullmatch(name):
                raise IncompleteBody("malformed aws-chunked trailer line")
            trailers.append((name, value.strip(b" \t")))

    def _check_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        algorithm = self._trailer_algorithm
        assert algorithm is not None and self._checksum is not None
        wanted = b"x-amz-checksum-" + algorithm.lower().encode()
        signatures = [value for name, value in trailers if name == b"x-amz-trailer-signature"]
        headers = [(name, value) for name, value in trailers if name != b"x-amz-trailer-signature"]
        if [name for name, _ in headers] != [wanted]:
            raise InvalidRequest(f"the trailer must carry exactly {wanted.decode()} as declared in x-amz-trailer")
        if self._signed_trailer:
            if len(signatures) != 1:
                raise SignatureDoesNotMatch("the aws-chunked trailer signature is missing")
            canonical = b"".join(b"%s:%s\n" % (name, value) for name, value in headers)
            string_to_sign = b"AWS4-HMAC-SHA256-TRAILER\n%s%s\n%s" % (
                self._stamp,
                self._prev,
                hashlib.sha256(canonical).hexdigest().encode(),
            )
            expected = hmac.digest(self._key, string_to_sign, "sha256").hex().encode()  # type: ignore[arg-type]
            if not hmac.compare_digest(expected, signatures[0]):
                raise SignatureDoesNotMatch("the aws-chunked trailer signature does not match")
        elif signatures:
            raise InvalidRequest("an unsigned trailer must not carry x-amz-trailer-signature")
        value = headers[0][1]
        expected_digest = decode_checksum(algorithm, value)
        if not hmac.compare_digest(self._checksum.digest(), expected_digest):
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
        self.trailing_checksum = value.decode("ascii")
        self.trailers = {name.decode(): value.decode("latin-1") for name, value in headers}
