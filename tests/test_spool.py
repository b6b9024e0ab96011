"""ticketbooth.spool: one pass that hashes (MD5 and the checksums asked for), checks, caps and writes a body."""
from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import zlib

import pytest

from ticketbooth.errors import InvalidRequest, TicketWriteBytesExceeded
from ticketbooth.sigv4 import BadDigest, content_checks
from ticketbooth.sigv4.streaming import AwsChunkedBody, BodySource, PlainBody
from ticketbooth.spool import CHUNK_BYTES, DIRECT_BYTES, MIN_PIECE, UploadBody, receive


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


class Reads(io.RawIOBase):
    """A raw stream that hands out at most ``piece`` bytes per call and counts the calls."""

    def __init__(self, data: bytes, piece: int = 7000) -> None:
        super().__init__()
        self._data, self._pos, self._piece = data, 0, piece
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.calls += 1
        count = min(len(buffer), self._piece, len(self._data) - self._pos)
        buffer[:count] = self._data[self._pos:self._pos + count]
        self._pos += count
        return count


class ReadOnly(io.RawIOBase):
    """A stream defining only ``read`` (RawIOBase's own readinto raises NotImplementedError)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._stream = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


@pytest.fixture
def spool_file(tmp_path):
    fd = os.open(tmp_path / "spool", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    yield fd, tmp_path / "spool"
    os.close(fd)


DATA = os.urandom(3 * CHUNK_BYTES + 12345)


@pytest.mark.parametrize("stream", [lambda: Reads(DATA), lambda: ReadOnly(DATA), lambda: io.BytesIO(DATA)],
                         ids=["readinto-pieces", "read-only", "bytesio"])
def test_receive_writes_the_body_and_its_md5(spool_file, stream):
    fd, path = spool_file
    received = receive(stream(), fd, size=len(DATA), max_bytes=None, too_big=TicketWriteBytesExceeded)
    assert received.size == len(DATA) and received.md5 == hashlib.md5(DATA).hexdigest()
    assert path.read_bytes() == DATA


def test_short_reads_are_gathered_into_pieces(spool_file, monkeypatch):
    fd, _ = spool_file
    source = Reads(DATA, piece=1000)
    body = UploadBody(source)
    writes = []
    real_write = os.write

    def counting_write(target, data):
        writes.append(len(data))
        return real_write(target, data)

    monkeypatch.setattr(os, "write", counting_write)
    receive(body, fd, size=None, max_bytes=None, too_big=TicketWriteBytesExceeded, sync=False)
    # One write per gathered piece, not one per read of the source.
    assert sum(writes) == len(DATA) and all(MIN_PIECE <= w <= CHUNK_BYTES for w in writes[:-1])
    assert len(writes) < source.calls / 50


def test_checksum_kept_and_checked_in_the_same_pass(spool_file):
    fd, path = spool_file
    checks = content_checks([("x-amz-checksum-crc32", crc32(DATA)),
                             ("content-md5", b64(hashlib.md5(DATA).digest()))])
    body = UploadBody(Reads(DATA), checks=checks, keep="CRC32")
    received = receive(body, fd, size=None, max_bytes=None, too_big=TicketWriteBytesExceeded)
    assert body.checksum("CRC32") == crc32(DATA) and body.md5_hex == received.md5
    assert body.checksum("SHA256") is None  # not asked for: not computed
    assert path.read_bytes() == DATA


@pytest.mark.parametrize("header,value", [("content-md5", b64(hashlib.md5(b"other").digest())),
                                          ("x-amz-checksum-crc32", crc32(b"other")),
                                          ("x-amz-checksum-sha256", b64(hashlib.sha256(b"other").digest()))])
def test_a_wrong_announced_digest_fails_at_the_end_and_again(spool_file, header, value):
    fd, _ = spool_file
    body = UploadBody(Reads(DATA), checks=content_checks([(header, value)]))
    with pytest.raises(BadDigest):
        receive(body, fd, size=None, max_bytes=None, too_big=TicketWriteBytesExceeded)
    with pytest.raises(BadDigest):
        body.readinto(bytearray(10))


def test_over_budget_stops_reading_at_once(spool_file):
    fd, path = spool_file
    source = Reads(DATA, piece=CHUNK_BYTES)
    with pytest.raises(TicketWriteBytesExceeded):
        receive(source, fd, size=None, max_bytes=CHUNK_BYTES + 1, too_big=TicketWriteBytesExceeded)
    assert source.calls == 2  # the second buffer went over: nothing more was read
    assert os.path.getsize(path) == CHUNK_BYTES  # what the caller then removes


def test_a_length_other_than_declared_is_refused(spool_file):
    fd, _ = spool_file
    with pytest.raises(InvalidRequest):
        receive(io.BytesIO(b"abc"), fd, size=4, max_bytes=None, too_big=TicketWriteBytesExceeded)


def test_a_plain_body_is_read_into_the_buffer(spool_file):
    fd, path = spool_file
    body = PlainBody(BodySource(Reads(DATA), len(DATA)), hashlib.sha256(DATA).hexdigest())
    assert receive(body, fd, size=None, max_bytes=None, too_big=TicketWriteBytesExceeded).size == len(DATA)
    assert path.read_bytes() == DATA


def test_a_checksum_verified_in_the_trailer_is_taken_from_the_decoder(spool_file):
    fd, path = spool_file
    data = b"hello world" * 1000
    framed = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\nx-amz-checksum-crc32:" + crc32(data).encode()
              + b"\r\n\r\n")
    decoder = AwsChunkedBody(BodySource(io.BytesIO(framed), len(framed)), decoded_length=len(data),
                             trailer_algorithm="CRC32")
    body = UploadBody(decoder, keep="CRC32", verified_trailer="CRC32")
    assert "CRC32" not in body._digests  # not computed a second time
    receive(body, fd, size=None, max_bytes=None, too_big=TicketWriteBytesExceeded)
    assert body.checksum("CRC32") == crc32(data) and path.read_bytes() == data


@pytest.mark.parametrize("length", [0, 1000, 2 * DIRECT_BYTES, 3 * DIRECT_BYTES + 4097],
                         ids=["empty", "tail-only", "whole-blocks", "blocks-and-tail"])
def test_direct_writes_store_the_same_bytes(spool_file, length):
    fd, path = spool_file
    data = DATA[:length] if length <= len(DATA) else DATA + os.urandom(length - len(DATA))
    received = receive(Reads(data, piece=100_000), fd, size=length, max_bytes=None,
                       too_big=TicketWriteBytesExceeded, direct=True)
    assert received.size == length and received.md5 == hashlib.md5(data).hexdigest()
    assert path.read_bytes() == data
    if length % DIRECT_BYTES:
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT  # the tail went through the page cache


def test_direct_writes_are_refused_over_budget_too(spool_file):
    fd, _ = spool_file
    with pytest.raises(TicketWriteBytesExceeded):
        receive(io.BytesIO(DATA), fd, size=None, max_bytes=len(DATA) - 1, too_big=TicketWriteBytesExceeded,
                direct=True)
