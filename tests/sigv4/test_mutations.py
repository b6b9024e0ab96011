"""Mutation tests: every accepted request, changed in any single way, is rejected with the
right S3 error code (raised by ``verify`` or, for payload changes, while reading the body)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from io import BytesIO
from urllib.parse import urlsplit

import pytest

from ticketbooth.sigv4 import S3AuthError, verify

from .helpers import DOC_KEY, DOC_NOW, DOC_SECRET
from .test_doc_examples import (
    HEADER_EXAMPLES,
    PRESIGNED,
    authorization,
    doc_streaming_body,
    doc_trailer_body,
)


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    secrets: tuple[tuple[str, str], ...] = ((DOC_KEY, DOC_SECRET),)
    now: datetime = DOC_NOW
    bucket: str | None = None

    def outcome(self) -> str:
        """"ok" or the S3 error code, verifying the body to EOF."""
        try:
            result = verify(self.method, self.path, self.query, list(self.headers), BytesIO(self.body),
                            dict(self.secrets).get, now=self.now, virtual_host_bucket=self.bucket)
            while result.body.read(4096):
                pass
        except S3AuthError as err:
            return err.code
        return "ok"

    def header(self, name: str, value: str) -> Request:
        lowered = name.lower()
        kept = [(n, v) for n, v in self.headers if n.lower() != lowered]
        return dataclasses.replace(self, headers=(*kept, (name, value)))

    def get(self, name: str) -> str:
        return next(v for n, v in self.headers if n.lower() == name.lower())


def _header_example(name: str) -> Request:
    method, path, query, headers, body, signed, signature = HEADER_EXAMPLES[name]
    return Request(method, path, query, (*headers, ("Authorization", authorization(signed, signature))), body)


def _streaming(body: bytes, mode: str, signed: str, seed: str, extra=()) -> Request:
    headers = (
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"), ("x-amz-content-sha256", mode), *extra,
        ("Authorization", authorization(signed, seed)),
    )
    return Request("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


def _unsigned_trailer() -> Request:
    """What boto3 sends by default over HTTPS: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32."""
    from freezegun import freeze_time

    from .test_crosscheck import KEY, SECRET, boto_client

    client, captured = boto_client(signature_version="s3v4")
    with freeze_time(DOC_NOW):
        client.put_object(Bucket="bucket", Key="key", Body=b"trailer data " * 100, ChecksumAlgorithm="CRC32")
    request = captured[0]
    split = urlsplit(request.url)
    headers = tuple(
        (k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
    )
    return Request("PUT", split.path, split.query, headers, request.body.read(), secrets=((KEY, SECRET),))


def _signed_trailer() -> Request:
    signed = ("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
              "x-amz-storage-class;x-amz-trailer")
    seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    return _streaming(doc_trailer_body(), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", signed, seed,
                      (("x-amz-trailer", "x-amz-checksum-crc32c"),))


BASES = {
    "put-object": _header_example("put-object"),
    "list-objects": _header_example("list-objects"),
    "presigned": Request("GET", "/test.txt", PRESIGNED, (("Host", "examplebucket.s3.amazonaws.com"),), b""),
    "streaming": _streaming(
        doc_streaming_body(), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        "x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        (("Content-Length", "66824"),),
    ),
    "signed-trailer": _signed_trailer(),
    "unsigned-trailer": _unsigned_trailer(),
    "sigv2": Request("GET", "/photos/puppy.jpg", "", (
        ("Host", "johnsmith.s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ), b"", now=datetime.fromisoformat("2007-03-27T19:36:42+00:00"), bucket="johnsmith"),
}




def shift_date(request: Request, minutes: int) -> Request:
    if "X-Amz-Date=" in request.query:
        stamp = request.query.split("X-Amz-Date=")[1][:16]
        moved = (datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
        return dataclasses.replace(request, query=request.query.replace(stamp, moved))
    if any(n.lower() == "x-amz-date" for n, _ in request.headers):
        moved = (datetime.strptime(request.get("x-amz-date"), "%Y%m%dT%H%M%SZ") + timedelta(minutes=minutes))
        return request.header("x-amz-date", moved.strftime("%Y%m%dT%H%M%SZ"))
    moved = datetime.strptime(request.get("Date"), "%a, %d %b %Y %H:%M:%S %z") + timedelta(minutes=minutes)
    return request.header("Date", moved.strftime("%a, %d %b %Y %H:%M:%S +0000"))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def mutations(name: str, base: Request):
    yield "method", dataclasses.replace(base, method="POST" if base.method != "POST" else "PUT"), "SignatureDoesNotMatch"
    changed = base.path + "x" if base.path == "/" else base.path[:-1] + ("x" if base.path[-1] != "x" else "y")
    yield "path-byte", dataclasses.replace(base, path=changed), "SignatureDoesNotMatch"
    yield "query-added", dataclasses.replace(base, query=(base.query + "&" if base.query else "") + "versionId=1"), "SignatureDoesNotMatch"
    if base.query and not base.query.startswith("X-Amz"):
        first = base.query.split("&")[0]
        yield "query-removed", dataclasses.replace(base, query="&".join(base.query.split("&")[1:])), "SignatureDoesNotMatch"
        yield "query-changed", dataclasses.replace(base, query=base.query.replace(first, first + "0", 1)), "SignatureDoesNotMatch"
    if name == "presigned":
        yield "query-signed-header-list", dataclasses.replace(base, query=base.query.replace("SignedHeaders=host", "SignedHeaders=host%3Brange")), "SignatureDoesNotMatch"
    if name == "sigv2":  # SigV2 signs /bucket/key, not Host: the bucket the gateway derived
        yield "bucket", dataclasses.replace(base, bucket="johnsmith2"), "SignatureDoesNotMatch"
    else:
        yield "host-value", base.header("Host", "evil.example"), "SignatureDoesNotMatch"
    if name in ("put-object", "streaming", "signed-trailer"):
        yield "signed-header-value", base.header("x-amz-storage-class", "STANDARD"), "SignatureDoesNotMatch"
    if name == "sigv2":
        yield "signed-header-value", base.header("Content-Type", "text/evil"), "SignatureDoesNotMatch"
    if base.body and name == "put-object":
        yield "body-byte", dataclasses.replace(base, body=flip(base.body, 3)), "XAmzContentSHA256Mismatch"
    if name in ("streaming", "signed-trailer"):
        yield "chunk-byte", dataclasses.replace(base, body=flip(base.body, 5000)), "SignatureDoesNotMatch"
        yield "last-chunk-byte", dataclasses.replace(base, body=flip(base.body, base.body.index(b"\r\n400;") + 200)), "SignatureDoesNotMatch"
    if name == "unsigned-trailer":
        yield "chunk-byte", dataclasses.replace(base, body=flip(base.body, 10)), "BadDigest"
    # Presigned URLs: 16 minutes earlier crosses midnight here, so the credential date disagrees.
    early = "RequestTimeTooSkewed" if name != "presigned" else "AuthorizationQueryParametersError"
    late = "RequestTimeTooSkewed" if name != "presigned" else "AccessDenied"
    yield "date-minus-16m", shift_date(base, -16), early
    yield "date-plus-16m", shift_date(base, 16), late
    key, secret = base.secrets[0]
    yield "other-secret", dataclasses.replace(base, secrets=((key, secret[:-1] + "!"),)), "SignatureDoesNotMatch"
    yield "unknown-key", dataclasses.replace(base, secrets=(("SOMEONEELSE", secret),)), "InvalidAccessKeyId"
    if name != "sigv2":
        yield "unsigned-amz-header", base.header("x-amz-meta-extra", "1"), "AccessDenied"


CASES = [
    pytest.param(base, mutated, code, id=f"{name}-{label}")
    for name, base in BASES.items()
    for label, mutated, code in mutations(name, base)
]


@pytest.mark.parametrize("name", sorted(BASES))
def test_base_requests_are_accepted(name: str) -> None:
    assert BASES[name].outcome() == "ok"


@pytest.mark.parametrize(("base", "mutated", "code"), CASES)
def test_single_mutation_is_rejected(base: Request, mutated: Request, code: str) -> None:
    assert base.outcome() == "ok"
    assert mutated != base
    assert mutated.outcome() == code
