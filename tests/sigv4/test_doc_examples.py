"""Worked examples from the AWS S3 documentation, with their published signatures.

Sources (credentials AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY):
- S3 API reference, "Signature Calculations for the Authorization Header: Transferring Payload in
  a Single Chunk" (sig-v4-header-based-auth): GET Object with Range, PUT Object, GET Bucket
  Lifecycle, GET Bucket (List Objects); timestamp 20130524T000000Z.
- "Authenticating Requests: Using Query Parameters" (sigv4-query-string-auth): presigned GET.
- "Transferring Payload in Multiple Chunks" (sigv4-streaming): 66560 bytes of 'a' in 65536 + 1024.
- "Signature calculations for trailing headers" (sigv4-streaming-trailers): same body, CRC32C trailer.
- Amazon S3 developer guide, "Signing and authenticating REST requests" (RESTAuthentication,
  SigV2): the Object GET example. Its published signature bWq2s1WEIj+Ydj0vQ697zp+IXMU= was
  computed for the bucket "johnsmith" of the guide's earlier editions; later editions renamed
  the bucket to awsexamplebucket1 in the text without recomputing it, so the test uses johnsmith.
"""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest

from ticketbooth.sigv4 import (
    BadDigest,
    RequestExpired,
    SignatureDoesNotMatch,
    verify,
)

from .helpers import DOC_KEY, DOC_NOW, EMPTY_SHA256, doc_lookup

SCOPE = f"Credential={DOC_KEY}/20130524/us-east-1/s3/aws4_request"


def authorization(signed: str, signature: str, separator: str = ",") -> str:
    return f"AWS4-HMAC-SHA256 {SCOPE}{separator}SignedHeaders={signed}{separator}Signature={signature}"


HEADER_EXAMPLES = {
    "get-object-range": (
        "GET", "/test.txt", "",
        [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
         ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", "20130524T000000Z")],
        b"", "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    "put-object": (
        "PUT", "/test%24file.text", "",
        [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
         ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
         ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")],
        b"Welcome to Amazon S3.", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    "get-bucket-lifecycle": (
        "GET", "/", "lifecycle",
        [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
         ("x-amz-content-sha256", EMPTY_SHA256)],
        b"", "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    "list-objects": (
        "GET", "/", "max-keys=2&prefix=J",
        [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
         ("x-amz-content-sha256", EMPTY_SHA256)],
        b"", "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
}


@pytest.mark.parametrize("separator", [",", ", "])
@pytest.mark.parametrize("name", sorted(HEADER_EXAMPLES))
def test_header_examples(name: str, separator: str) -> None:
    method, path, query, headers, body, signed, signature = HEADER_EXAMPLES[name]
    headers = [*headers, ("Authorization", authorization(signed, signature, separator))]
    result = verify(method, path, query, headers, body, doc_lookup, now=DOC_NOW)
    assert (result.access_key_id, result.region, result.scheme) == (DOC_KEY, "us-east-1", "v4-header")
    assert result.signed_headers == tuple(signed.split(";"))
    assert result.payload_mode == "SHA256"
    assert result.body.read() == body


def test_put_object_unencoded_dollar_is_the_same_key() -> None:
    # The PUT example's key holds '$'; sent raw or as %24 it canonicalizes to /test%24file.text.
    method, _, query, headers, body, signed, signature = HEADER_EXAMPLES["put-object"]
    headers = [*headers, ("Authorization", authorization(signed, signature))]
    assert verify(method, "/test$file.text", query, headers, body, doc_lookup, now=DOC_NOW).access_key_id == DOC_KEY


def test_put_object_body_must_match_its_hash() -> None:
    from ticketbooth.sigv4 import XAmzContentSHA256Mismatch

    method, path, query, headers, _, signed, signature = HEADER_EXAMPLES["put-object"]
    headers = [*headers, ("Authorization", authorization(signed, signature))]
    result = verify(method, path, query, headers, b"Welcome to Amazon S4.", doc_lookup, now=DOC_NOW)
    with pytest.raises(XAmzContentSHA256Mismatch) as caught:
        result.body.read()
    assert caught.value.status == 400
    with pytest.raises(XAmzContentSHA256Mismatch):
        result.body.read()  # sticky


PRESIGNED = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
    "%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def test_presigned_example() -> None:
    headers = [("Host", "examplebucket.s3.amazonaws.com")]
    later = DOC_NOW + timedelta(hours=23)
    result = verify("GET", "/test.txt", PRESIGNED, headers, b"", doc_lookup, now=later)
    assert result.scheme == "v4-query"
    assert result.payload_mode == "UNSIGNED-PAYLOAD"
    assert result.expires_at == DOC_NOW + timedelta(seconds=86400)
    with pytest.raises(RequestExpired) as caught:
        verify("GET", "/test.txt", PRESIGNED, headers, b"", doc_lookup, now=DOC_NOW + timedelta(seconds=86401))
    assert caught.value.code == "AccessDenied"


CHUNK_DATA = b"a" * 66560
STREAMING_HEADERS = [
    ("Host", "s3.amazonaws.com"),
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
]


def doc_streaming_body() -> bytes:
    return (
        b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
        + CHUNK_DATA[:65536]
        + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
        + CHUNK_DATA[65536:]
        + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
    )


def doc_streaming_request(body: bytes):
    headers = [
        *STREAMING_HEADERS,
        ("Content-Length", str(len(body))),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("Authorization", authorization(
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        )),
    ]
    return verify("PUT", "/examplebucket/chunkObject.txt", "", headers, BytesIO(body), doc_lookup, now=DOC_NOW)


def test_streaming_example() -> None:
    body = doc_streaming_body()
    assert len(body) == 66824  # the documented Content-Length
    result = doc_streaming_request(body)
    assert result.payload_mode == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    assert result.decoded_content_length == 66560
    assert result.content_encoding is None  # aws-chunked is transport only
    out = BytesIO()
    shutil.copyfileobj(result.body, out, 1000)
    assert out.getvalue() == CHUNK_DATA


def test_streaming_example_rejects_one_changed_byte() -> None:
    body = bytearray(doc_streaming_body())
    body[-200] ^= 1  # inside the 1024-byte chunk
    result = doc_streaming_request(bytes(body))
    with pytest.raises(SignatureDoesNotMatch):
        result.body.read()


def doc_trailer_body(checksum: bytes = b"sOO8/Q==") -> bytes:
    return (
        b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
        + CHUNK_DATA[:65536]
        + b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
        + CHUNK_DATA[65536:]
        + b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
        + b"x-amz-checksum-crc32c:" + checksum + b"\r\n"
        + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
    )


def doc_trailer_request(body: bytes):
    headers = [
        *STREAMING_HEADERS,
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ("Authorization", authorization(
            "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
            "x-amz-storage-class;x-amz-trailer",
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        )),
    ]
    return verify("PUT", "/examplebucket/chunkObject.txt", "", headers, BytesIO(body), doc_lookup, now=DOC_NOW)


def test_streaming_trailer_example() -> None:
    result = doc_trailer_request(doc_trailer_body())
    assert result.checksum_algorithm == "CRC32C"
    assert result.body.read() == CHUNK_DATA
    assert result.body.read() == b""
    assert result.body.trailing_checksum == "sOO8/Q=="


def test_streaming_trailer_example_changed_checksum_breaks_the_trailer_signature() -> None:
    result = doc_trailer_request(doc_trailer_body(b"sOO8/A=="))
    with pytest.raises(SignatureDoesNotMatch):
        result.body.read()


def test_streaming_trailer_example_changed_data_is_caught() -> None:
    body = bytearray(doc_trailer_body())
    body[100] = ord("b")
    result = doc_trailer_request(bytes(body))
    with pytest.raises((SignatureDoesNotMatch, BadDigest)):
        result.body.read()


def test_sigv2_object_get_example() -> None:
    headers = [
        ("Host", "johnsmith.s3.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ]
    now = datetime(2007, 3, 27, 19, 40, tzinfo=UTC)
    result = verify("GET", "/photos/puppy.jpg", "", headers, b"", doc_lookup, now=now,
                    virtual_host_bucket="johnsmith")
    assert (result.scheme, result.access_key_id, result.region) == ("v2-header", DOC_KEY, "")
    with pytest.raises(SignatureDoesNotMatch):
        verify("GET", "/photos/puppy.jpg", "", headers, b"", doc_lookup, now=now, virtual_host_bucket="otherbucket")
