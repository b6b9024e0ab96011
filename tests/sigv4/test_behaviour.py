"""Edge behaviour: error hierarchy and XML, auth-mechanism selection, header rules, aws-chunked
framing limits, bounded memory, content checksum helper, constant work for unknown keys."""
from __future__ import annotations

import base64
import hashlib
import io
import shutil
import tracemalloc

import pytest

import ticketbooth.sigv4 as sigv4
from ticketbooth.sigv4 import (
    AnonymousRequest,
    AuthorizationQueryParametersError,
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    MissingContentLength,
    S3AuthError,
    SignatureDoesNotMatch,
    UnsignedHeaders,
    verify,
    with_content_checks,
)
from ticketbooth.sigv4.streaming import MAX_CHUNK_SIZE, AwsChunkedBody, BodySource

from .helpers import DOC_NOW, DOC_SECRET, doc_lookup, signed_chunks
from .test_doc_examples import HEADER_EXAMPLES, PRESIGNED, authorization


def header_request(name: str = "get-object-range", **replace: str):
    method, path, query, headers, body, signed, signature = HEADER_EXAMPLES[name]
    headers = [(n, replace.get(n.lower(), v)) for n, v in headers] + [("Authorization", authorization(signed, signature))]
    return method, path, query, headers, body


def test_every_error_is_exported_with_code_and_status() -> None:
    errors = [getattr(sigv4, n) for n in sigv4.__all__ if isinstance(getattr(sigv4, n), type)
              and issubclass(getattr(sigv4, n), Exception)]
    assert {e for e in vars(sigv4.errors).values() if isinstance(e, type) and issubclass(e, S3AuthError)} <= set(errors)
    for error in errors:
        assert error.code and error.status in (400, 403, 411)


def test_result_builder_takes_every_field_in_order() -> None:
    """VerifiedRequest._build names each field (it skips the frozen dataclass's setattr): one added to
    the class and not to it would be missing from every result."""
    import dataclasses
    import inspect

    builder = list(inspect.signature(sigv4.VerifiedRequest._build).parameters)
    assert builder == [field.name for field in dataclasses.fields(sigv4.VerifiedRequest)]
    result = sigv4.VerifiedRequest._build(*builder)
    assert [getattr(result, name) for name in builder] == builder


def test_xml_document_escapes_and_carries_no_secret() -> None:
    method, path, query, headers, body = header_request()
    headers[-1] = ("Authorization", headers[-1][1][:-4] + "0000")
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(method, path, query, headers, body, doc_lookup, now=DOC_NOW)
    xml = caught.value.to_xml(resource="/a&b", request_id="r<1>").decode()
    assert "<Code>SignatureDoesNotMatch</Code>" in xml and "/a&amp;b" in xml and "r&lt;1&gt;" in xml
    assert "<StringToSign>AWS4-HMAC-SHA256" in xml
    for secret in (DOC_SECRET, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", headers[-1][1][-64:]):
        assert secret not in xml and secret not in str(caught.value)


def test_anonymous_and_double_authentication() -> None:
    with pytest.raises(AnonymousRequest) as caught:
        verify("GET", "/", "", [("Host", "h")], b"", doc_lookup, now=DOC_NOW)
    assert caught.value.code == "AccessDenied"
    method, path, _, headers, body = header_request()
    with pytest.raises(InvalidArgument):
        verify(method, path, PRESIGNED, headers, body, doc_lookup, now=DOC_NOW)


def test_signed_content_sha256_header_must_be_present() -> None:
    method, path, query, headers, body = header_request()
    headers = [(n, v) for n, v in headers if n != "x-amz-content-sha256"]
    with pytest.raises(SignatureDoesNotMatch):
        verify(method, path, query, headers, body, doc_lookup, now=DOC_NOW)


def test_host_must_be_signed() -> None:
    method, path, query, headers, body = header_request()
    headers[-1] = ("Authorization", headers[-1][1].replace("host;", ""))
    with pytest.raises(UnsignedHeaders):
        verify(method, path, query, headers, body, doc_lookup, now=DOC_NOW)


def test_presigned_expires_bounds_and_region() -> None:
    headers = [("Host", "examplebucket.s3.amazonaws.com")]
    for expires in ("0", "604801", "-1", "1e3"):
        with pytest.raises(AuthorizationQueryParametersError):
            verify("GET", "/test.txt", PRESIGNED.replace("86400", expires), headers, b"", doc_lookup, now=DOC_NOW)
    with pytest.raises(AuthorizationQueryParametersError):
        verify("GET", "/test.txt", PRESIGNED, headers, b"", doc_lookup, now=DOC_NOW, region="eu-west-1")


def test_unknown_key_does_the_same_work(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sigv4.verify.__globals__["signer"]
    monkeypatch.setitem(sigv4.verify.__globals__, "signer", lambda *a: calls.append(a[0]) or real(*a))
    method, path, query, headers, body = header_request()
    with pytest.raises(sigv4.InvalidAccessKeyId):
        verify(method, path, query, headers, body, lambda key: None, now=DOC_NOW)
    assert calls == [sigv4.verify.__globals__["DUMMY_SECRET"]]


def chunked(body: bytes, decoded: int, limit: int | None = None) -> AwsChunkedBody:
    return AwsChunkedBody(BodySource(body, limit), decoded_length=decoded)


@pytest.mark.parametrize(
    ("body", "decoded", "error"),
    [
        (b"5\r\nhello\r\n0\r\n\r\n", 5, None),
        (b"5\r\nhello\r\n0\r\n\r\n", 6, IncompleteBody),
        (b"5\r\nhello\r\n0\r\n\r\n", 4, IncompleteBody),
        (b"5\r\nhel", 5, IncompleteBody),
        (b"5\r\nhelloXX0\r\n\r\n", 5, IncompleteBody),
        (b"0x5\r\nhello\r\n0\r\n\r\n", 5, IncompleteBody),
        (b" 5\r\nhello\r\n0\r\n\r\n", 5, IncompleteBody),
        (b"5;ext=1\r\nhello\r\n0\r\n\r\n", 5, IncompleteBody),
        (b"5\r\nhello\r\n0\r\n\r\ngarbage", 5, IncompleteBody),
        (b"%x\r\n" % (MAX_CHUNK_SIZE + 1), MAX_CHUNK_SIZE + 1, InvalidArgument),
        (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 5, InvalidRequest),
        (b"1" * 5000 + b"\r\n", 5, IncompleteBody),
    ],
)
def test_chunk_framing(body: bytes, decoded: int, error: type[S3AuthError] | None) -> None:
    stream = chunked(body, decoded)
    if error is None:
        assert stream.read() == b"hello"
        return
    with pytest.raises(error):
        stream.read()


def test_streaming_requires_decoded_length() -> None:
    headers = [("Host", "h"), ("x-amz-date", "20130524T000000Z"),
               ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
               ("Authorization", authorization("host;x-amz-content-sha256;x-amz-date", "0" * 64))]
    with pytest.raises((MissingContentLength, SignatureDoesNotMatch)):
        verify("PUT", "/b/k", "", headers, b"", doc_lookup, now=DOC_NOW)


class GeneratedBody(io.RawIOBase):
    """A readable body produced piece by piece, never held whole in memory."""

    def __init__(self, pieces):
        self._pieces = iter(pieces)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < size:
            more = next(self._pieces, None)
            if more is None:
                break
            self._pending += more
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def test_large_signed_stream_memory_is_flat() -> None:
    piece = bytes(range(256)) * 256  # 64 KiB
    count = 128  # 8 MiB decoded
    key = sigv4.signing.derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
    scope = "20130524/us-east-1/s3/aws4_request"
    from .helpers import chunk_signature

    def frames():
        previous = "f" * 64
        for _ in range(count):
            previous = chunk_signature(key, "20130524T000000Z", scope, previous, piece)
            yield b"10000;chunk-signature=%s\r\n" % previous.encode() + piece + b"\r\n"
        previous = chunk_signature(key, "20130524T000000Z", scope, previous, b"")
        yield b"0;chunk-signature=%s\r\n\r\n" % previous.encode()

    stream = AwsChunkedBody(BodySource(GeneratedBody(frames()), None), decoded_length=len(piece) * count,
                            signing_key=key, amz_date="20130524T000000Z", scope=scope, seed_signature="f" * 64)
    sink = hashlib.sha256()

    class Sink:
        def write(self, data: bytes) -> None:
            sink.update(data)

    tracemalloc.start()
    shutil.copyfileobj(stream, Sink(), 65536)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sink.digest() == hashlib.sha256(piece * count).digest()
    assert peak < 2 * 1024 * 1024


def test_signed_chunks_helper_round_trip_with_content_length() -> None:
    body = signed_chunks(DOC_SECRET, "20130524T000000Z", "us-east-1", "e" * 64, [b"x" * 10, b"y" * 3])
    key = sigv4.signing.derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
    stream = AwsChunkedBody(BodySource(io.BytesIO(body + b"NEXT REQUEST"), len(body)), decoded_length=13,
                            signing_key=key, amz_date="20130524T000000Z",
                            scope="20130524/us-east-1/s3/aws4_request", seed_signature="e" * 64)
    assert stream.read(100) == b"x" * 10 + b"y" * 3
    assert stream.read(100) == b""


def test_content_checks_helper() -> None:
    data = b"payload"
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert with_content_checks(io.BytesIO(data), [("Content-MD5", md5), ("x-amz-checksum-sha256", sha)]).read() == data
    with pytest.raises(BadDigest):
        with_content_checks(io.BytesIO(b"other"), [("Content-MD5", md5)]).read()
    with pytest.raises(InvalidDigest):
        with_content_checks(io.BytesIO(data), [("Content-MD5", "not base64!")])
    with pytest.raises(InvalidRequest):
        with_content_checks(io.BytesIO(data), [("x-amz-checksum-sha256", sha), ("x-amz-checksum-crc32", "AAAAAA==")])
    stream = io.BytesIO(data)
    assert with_content_checks(stream, [("Host", "h")]) is stream
