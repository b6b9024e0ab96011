"""Issue 8 item 5: a multipart object keeps its multipart ETag (HEAD, GET, List, If-Match) and its part
boundaries (GET/HEAD ?partNumber=N); If-Match: * matches an object whose ETag is unknown."""
from __future__ import annotations

import hashlib
import os

import pytest

from ticketbooth.gateway.conditions import evaluate
from ticketbooth.model import Access

CHUNKS = [os.urandom(2048), os.urandom(3000), os.urandom(100)]
MULTIPART_ETAG = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in CHUNKS)).hexdigest() + "-3"


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket(access=Access.WRITE))


def upload(client, key, chunks=CHUNKS):
    upload_id = client.request("POST", key, "uploads").find("UploadId")
    parts = []
    for number, chunk in enumerate(chunks, 1):
        result = client.request("PUT", key, f"partNumber={number}&uploadId={upload_id}", body=chunk)
        parts.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{result.headers['etag']}</ETag></Part>")
    body = f"<CompleteMultipartUpload>{''.join(parts)}</CompleteMultipartUpload>".encode()
    done = client.request("POST", key, f"uploadId={upload_id}", body=body)
    assert done.status == 200
    return done.find("ETag")


def test_the_multipart_etag_stays_the_objects_etag(writer):
    etag = upload(writer, "big.bin")
    assert etag == f'"{MULTIPART_ETAG}"'
    assert writer.request("HEAD", "big.bin").headers["etag"] == etag
    got = writer.request("GET", "big.bin", headers={"If-Match": etag})
    assert (got.status, got.headers["etag"], got.body) == (200, etag, b"".join(CHUNKS))
    assert writer.request("GET", "big.bin", headers={"If-None-Match": etag}).status == 304
    assert writer.request("GET", "big.bin", headers={"If-Match": '"' + hashlib.md5(b"".join(CHUNKS)).hexdigest() + '"'}
                          ).status == 412
    listing = writer.request("GET", None, "list-type=2&prefix=big")
    assert listing.findall("Contents/ETag") == [etag]
    assert writer.request("GET", None, "prefix=big").findall("Contents/ETag") == [etag]
    # A conditional overwrite with the ETag the client just got succeeds.
    assert writer.request("PUT", "big.bin", body=b"new", headers={"If-Match": etag}).status == 200
    assert writer.request("HEAD", "big.bin").headers["etag"] == f'"{hashlib.md5(b"new").hexdigest()}"'


def test_part_number_reads_one_part(writer):
    upload(writer, "big.bin")
    offsets = [0, 2048, 5048, 5148]
    for number, chunk in enumerate(CHUNKS, 1):
        got = writer.request("GET", "big.bin", f"partNumber={number}")
        assert (got.status, got.body) == (206, chunk)
        assert got.headers["content-range"] == f"bytes {offsets[number - 1]}-{offsets[number] - 1}/5148"
        assert got.headers["x-amz-mp-parts-count"] == "3"
        head = writer.request("HEAD", "big.bin", f"partNumber={number}")
        assert (head.status, head.headers["content-length"]) == (206, str(len(chunk)))
    beyond = writer.request("GET", "big.bin", "partNumber=4")
    assert (beyond.status, beyond.code) == (416, "InvalidPartNumber")
    for bad in ("0", "10001", "x", "-1", "1.5"):
        refused = writer.request("GET", "big.bin", f"partNumber={bad}")
        assert (refused.status, refused.code) == (400, "InvalidArgument"), bad
    both = writer.request("GET", "big.bin", "partNumber=1", headers={"Range": "bytes=0-1"})
    assert (both.status, both.code) == (400, "InvalidRequest")


def test_part_one_of_a_single_upload_is_the_whole_object(gw, writer):
    assert writer.request("PUT", "small.txt", body=b"hello").status == 200
    got = writer.request("GET", "small.txt", "partNumber=1")
    assert (got.status, got.body, got.headers["content-range"]) == (206, b"hello", "bytes 0-4/5")
    assert "x-amz-mp-parts-count" not in got.headers
    assert writer.request("GET", "small.txt", "partNumber=2").code == "InvalidPartNumber"


def test_an_overwrite_ends_the_parts(writer):
    upload(writer, "big.bin")
    assert writer.request("PUT", "big.bin", body=b"plain").status == 200
    assert writer.request("GET", "big.bin", "partNumber=2").code == "InvalidPartNumber"
    assert writer.request("GET", "big.bin", "partNumber=1").body == b"plain"


def test_a_change_outside_s3_ends_the_multipart_etag(gw, writer):
    upload(writer, "big.bin")
    gw.put("ds1/big.bin", b"changed by hand, another size")
    head = writer.request("HEAD", "big.bin")
    assert not head.headers["etag"].endswith('-3"')
    assert writer.request("GET", "big.bin", "partNumber=2").code == "InvalidPartNumber"


def test_star_matches_an_object_without_a_known_etag():
    assert evaluate({"if-match": "*"}, None, None, method="GET") is None
    assert evaluate({"if-none-match": "*"}, None, None, method="GET") == 304
    assert evaluate({"if-match": '"abc"'}, None, None, method="GET") == 412
