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

__all__ = [
    "MAX_CHUNK_SIZE",
    "MAX_TRAILER_SIZE",
    "BodySource",
    "VerifiedBody",
    "PlainBody",
    "AwsChunkedBody",
]

MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_LINE = 4096
MAX_TRAILER_SIZE = 16 * 1024
_READ_AHEAD = 256
_COPY_SIZE = 1024 * 1024

_SIGNED_CHUNK_LINE = re.compile(rb"([0-9a-fA-F]{1,8});chunk-signature=([0-9a-f]{64})")
_UNSIGNED_CHUNK_LINE = re.compile(rb"[0-9a-fA-F]{1,8}")
_TRAILER_NAME = re.compile(rb"[a-z0-9\-]{1,64}")
_EMPTY_HASH = EMPTY_SHA256.encode("ascii")


class BodySource:
    """The raw request body: bytes or a readable binary file-like, read at most ``limit`` bytes.

    ``limit`` is the Content-Length when known: a WSGI input must not be read past it.
    """

    __slots__ = ("_read", "remaining")

    def __init__(self, body: Any, limit: int | None) -> None:
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = io.BytesIO(body)
            if limit is None:
                limit = len(body.getbuffer())
        elif body is None:
            body = io.BytesIO(b"")
        self._read = body.read
        self.remaining = limit

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

    def __init__(self) -> None:
        super().__init__()
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

    def __init__(self, source: BodySource, expected_sha256: str | None) -> None:
        super().__init__()
        self._source = source
        self._expected = expected_sha256
        self._hasher = hashlib.sha256() if expected_sha256 is not None else None

    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if size is None or size < 0:
            return self.readall()
        if self._done or size == 0:
            return b""
        data = self._source.read(size)
        if data:
            if self._hasher is not None:
                self._hasher.update(data)
            self.bytes_read += len(data)
            return data
        self._finish()
        return b""

    def _finish(self) -> None:
        self._done = True
        if self._source.remaining:
            raise self._fail(IncompleteBody("the body is shorter than its Content-Length"))
        if self._hasher is not None and not hmac.compare_digest(
            self._hasher.hexdigest().encode(), self._expected.encode("ascii")  # type: ignore[union-attr]
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

    Raises (while reading): SignatureDoesNotMatch (chunk or trailer signature), BadDigest
    (trailing checksum), IncompleteBody (truncated or malformed framing, length mismatch),
    InvalidArgument (chunk over MAX_CHUNK_SIZE), InvalidRequest (trailer missing or unexpected).
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
        self._buf = b""
        self._bpos = 0
        self._cur = b""
        self._cur_pos = 0
        self._total = 0

    # -- the stream ---------------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        cur = self._cur
        pos = self._cur_pos
        if pos >= len(cur):
            if self._done:
                return b""
            self._advance()
            cur = self._cur
            pos = 0
            if not cur:
                return b""
        available = len(cur) - pos
        if size < available:
            self._cur_pos = pos + size
            self.bytes_read += size
            return cur[pos : pos + size]
        self._cur_pos = len(cur)
        self.bytes_read += available
        out = cur if pos == 0 else cur[pos:]
        if size == available or self._done:
            return out
        parts = [out]
        wanted = size - available
        while wanted > 0:
            more = self.read(wanted)
            if not more:
                break
            parts.append(more)
            wanted -= len(more)
        return b"".join(parts)

    # -- framing ------------------------------------------------------------------------------
    def _advance(self) -> None:
        try:
            self._next_chunk()
        except S3AuthError as error:
            raise self._fail(error) from None

    def _fill(self) -> bool:
        more = self._source.read(_READ_AHEAD)
        if not more:
            return False
        self._buf = self._buf[self._bpos :] + more if self._bpos < len(self._buf) else more
        self._bpos = 0
        return True

    def _read_line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._bpos)
            if end >= 0:
                if end - self._bpos > MAX_LINE:
                    break
                line = self._buf[self._bpos : end]
                self._bpos = end + 2
                return line
            if len(self._buf) - self._bpos > MAX_LINE:
                break
            if not self._fill():
                raise IncompleteBody("the aws-chunked body ended in the middle of a chunk header")
        raise IncompleteBody("an aws-chunked header line is too long")

    def _read_exact(self, size: int) -> bytes:
        buf = self._buf
        pos = self._bpos
        have = len(buf) - pos
        if have >= size:
            self._bpos = pos + size
            return buf[pos : pos + size]
        parts = [buf[pos:]] if have else []
        self._buf = b""
        self._bpos = 0
        wanted = size - have
        while wanted:
            piece = self._source.read(wanted)
            if not piece:
                raise IncompleteBody("You did not provide the number of bytes specified by the chunk header")
            parts.append(piece)
            wanted -= len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next_chunk(self) -> None:
        line = self._read_line()
        signature = None
        if self._key is not None:
            match = _SIGNED_CHUNK_LINE.fullmatch(line)
            if match is None:
                raise IncompleteBody("malformed aws-chunked chunk header (expected <hex-size>;chunk-signature=<sig>)")
            size = int(match.group(1), 16)
            signature = match.group(2)
        else:
            if _UNSIGNED_CHUNK_LINE.fullmatch(line) is None:
                raise IncompleteBody("malformed aws-chunked chunk header (expected <hex-size>)")
            size = int(line, 16)
        if size > MAX_CHUNK_SIZE:
            raise InvalidArgument(f"aws-chunked chunk larger than {MAX_CHUNK_SIZE} bytes")
        total = self._total + size
        if total > self._decoded_length:
            raise IncompleteBody("the body is longer than x-amz-decoded-content-length")
        if size:
            data = self._read_exact(size)
            if self._read_line():
                raise IncompleteBody("aws-chunked chunk data is not followed by CRLF")
        else:
            data = b""
        if signature is not None:
            # Chunk string to sign: algorithm, timestamp, scope, previous signature,
            # hash of the empty string, hash of the chunk data.
            string_to_sign = b"%s%s\n%s\n%s" % (
                self._chunk_prefix,
                self._prev,
                _EMPTY_HASH,
                hashlib.sha256(data).hexdigest().encode(),
            )
            expected = hmac.digest(self._key, string_to_sign, "sha256").hex().encode()  # type: ignore[arg-type]
            if not hmac.compare_digest(expected, signature):
                raise SignatureDoesNotMatch("an aws-chunked chunk signature does not match")
            self._prev = signature
        if self._checksum is not None and size:
            self._checksum.update(data)
        self._total = total
        self._cur = data
        self._cur_pos = 0
        if not size:
            self._finish()

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
