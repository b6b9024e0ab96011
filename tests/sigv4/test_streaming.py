"""aws-chunked decoding: linear whatever the chunk and read sizes (the recursion attack of issue 9 item 2),
every read path (read, readinto, readall) yields the same verified bytes, bounded header lines."""
from __future__ import annotations

import io
import shutil
import zlib

import pytest

from ticketbooth.sigv4 import verify
from ticketbooth.sigv4.errors import IncompleteBody, SignatureDoesNotMatch
from ticketbooth.sigv4.signing import derive_signing_key
from ticketbooth.sigv4.streaming import MAX_CHUNK_HEADER, AwsChunkedBody, BodySource

from .helpers import DOC_KEY, DOC_NOW, DOC_SECRET, doc_lookup, signed_chunks
from .test_doc_examples import authorization

STAMP = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "a" * 64
KEY = derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")


def signed_stream(pieces: list[bytes], source=None) -> AwsChunkedBody:
    body = signed_chunks(DOC_SECRET, STAMP, "us-east-1", SEED, pieces)
    return AwsChunkedBody(BodySource(source(body) if source else body, None if source else len(body)),
                          decoded_length=sum(map(len, pieces)), signing_key=KEY, amz_date=STAMP, scope=SCOPE,
                          seed_signature=SEED)


def unsigned_stream(pieces: list[bytes]) -> AwsChunkedBody:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n"
    crc = zlib.crc32(b"".join(pieces)).to_bytes(4, "big")
    import base64

    body += b"x-amz-checksum-crc32:" + base64.b64encode(crc) + b"\r\n\r\n"
    return AwsChunkedBody(BodySource(body, len(body)), decoded_length=sum(map(len, pieces)),
                          trailer_algorithm="CRC32")


class NoReadinto:
    """A source with only ``read`` (like gunicorn's body), handing out at most 1000 bytes per call."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(min(size, 1000) if size >= 0 else 1000)


def drain_read(stream, size: int) -> bytes:
    out = bytearray()
    while data := stream.read(size):
        out += data
    return bytes(out)


def drain_readinto(stream, size: int) -> bytes:
    out = bytearray()
    buffer = bytearray(size)
    while count := stream.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("maker", [signed_stream, unsigned_stream], ids=["signed", "unsigned-trailer"])
@pytest.mark.parametrize("size", [1024 * 1024, 65536])
def test_thousands_of_tiny_chunks_decode_without_recursion(maker, size: int) -> None:
    # The old decoder recursed once per chunk a read spanned: 5,000 one-byte chunks raised RecursionError (a 500).
    pieces = [bytes([i % 251]) for i in range(5000)]
    assert drain_read(maker(pieces), size) == b"".join(pieces)
    assert drain_readinto(maker(pieces), size) == b"".join(pieces)


@pytest.mark.parametrize("reader", [drain_read, drain_readinto], ids=["read", "readinto"])
@pytest.mark.parametrize("size", [1, 7, 4096, 65536, 1 << 20])
@pytest.mark.parametrize("source", [None, NoReadinto], ids=["bytes", "read-only-source"])
def test_every_read_size_yields_the_verified_bytes(reader, size: int, source) -> None:
    pieces = [bytes(range(256)) * 300, b"x" * 10, b"y" * 70_000, b"z"]
    stream = signed_stream(pieces, source)
    assert reader(stream, size) == b"".join(pieces)
    assert stream.bytes_read == sum(map(len, pieces))
    assert stream.read(10) == b""


def test_copyfileobj_over_the_gateway_read_size() -> None:
    pieces = [b"p" * 65536] * 20
    sink = io.BytesIO()
    shutil.copyfileobj(signed_stream(pieces), sink, 1 << 20)
    assert sink.getvalue() == b"".join(pieces)


@pytest.mark.parametrize("reader", [drain_read, drain_readinto], ids=["read", "readinto"])
def test_a_tampered_tiny_chunk_fails_the_whole_body(reader) -> None:
    pieces = [b"%d" % (i % 10) for i in range(3000)]
    body = bytearray(signed_chunks(DOC_SECRET, STAMP, "us-east-1", SEED, pieces))
    index = body.index(b"\r\n7\r\n")  # the data byte of the 8th chunk
    body[index + 2] = ord("8")
    stream = AwsChunkedBody(BodySource(bytes(body), len(body)), decoded_length=3000, signing_key=KEY,
                            amz_date=STAMP, scope=SCOPE, seed_signature=SEED)
    with pytest.raises(SignatureDoesNotMatch):
        reader(stream, 1 << 20)
    with pytest.raises(SignatureDoesNotMatch):  # and every later read fails too
        stream.read(1)


def test_chunk_header_line_is_bounded() -> None:
    long_header = b"5;chunk-signature=" + b"a" * MAX_CHUNK_HEADER + b"\r\nhello\r\n"
    stream = AwsChunkedBody(BodySource(long_header + b"x" * 100_000, None), decoded_length=5, signing_key=KEY,
                            amz_date=STAMP, scope=SCOPE, seed_signature=SEED)
    with pytest.raises(IncompleteBody):
        stream.read(100)
    # Endless header bytes without a line end stop after the bound, not at the end of the body.
    endless = AwsChunkedBody(BodySource(b"1" * 10_000_000, None), decoded_length=5)
    with pytest.raises(IncompleteBody):
        endless.read(100)
    assert endless._source.remaining >= 10_000_000 - 2 * 256  # read no further than a header line


def test_crlf_split_across_source_reads() -> None:
    pieces = [b"a" * 997, b"b" * 5]  # the CRLF after the first chunk straddles a 1000-byte source read
    assert drain_read(signed_stream(pieces, NoReadinto), 4096) == b"".join(pieces)


def test_tiny_chunk_upload_through_verify() -> None:
    """A whole request (header signature + 4,000 one-byte signed chunks) verifies and decodes."""
    pieces = [b"q"] * 4000
    headers = [("Host", "s3.amazonaws.com"), ("x-amz-date", STAMP), ("Content-Encoding", "aws-chunked"),
               ("x-amz-decoded-content-length", "4000"),
               ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")]
    import hashlib
    import hmac

    canonical = "\n".join([
        "PUT", "/bucket/tiny", "",
        "content-encoding:aws-chunked\nhost:s3.amazonaws.com\nx-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        "\nx-amz-date:" + STAMP + "\nx-amz-decoded-content-length:4000\n",
        "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    to_sign = f"AWS4-HMAC-SHA256\n{STAMP}\n{SCOPE}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    seed = hmac.new(KEY, to_sign.encode(), "sha256").hexdigest()
    body = signed_chunks(DOC_SECRET, STAMP, "us-east-1", seed, pieces)
    headers += [("Content-Length", str(len(body))),
                ("Authorization", authorization(
                    "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length", seed))]
    result = verify("PUT", "/bucket/tiny", "", headers, io.BytesIO(body), doc_lookup, now=DOC_NOW)
    assert result.access_key_id == DOC_KEY
    assert drain_read(result.body, 1 << 20) == b"q" * 4000
