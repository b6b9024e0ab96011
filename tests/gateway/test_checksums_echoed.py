"""Issue 8 item 6: the x-amz-checksum-* of a PutObject/UploadPart is echoed, kept, and returned by HEAD/GET
with x-amz-checksum-mode: ENABLED; CompleteMultipartUpload checks the part checksums it names and answers the
composite (or full-object) checksum."""
from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from ticketbooth.model import Access

CHUNKS = [os.urandom(2048), os.urandom(3000), os.urandom(100)]
ENABLED = {"x-amz-checksum-mode": "ENABLED"}


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket(access=Access.WRITE))


def test_put_object_echoes_and_keeps_its_checksum(writer):
    value = b64(crc32(b"hello"))
    put = writer.request("PUT", "a.bin", body=b"hello", headers={"x-amz-checksum-crc32": value})
    assert put.status == 200 and put.headers["x-amz-checksum-crc32"] == value
    assert put.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    assert "x-amz-checksum-crc32" not in writer.request("HEAD", "a.bin").headers  # only when asked for
    head = writer.request("HEAD", "a.bin", headers=ENABLED)
    assert (head.headers["x-amz-checksum-crc32"], head.headers["x-amz-checksum-type"]) == (value, "FULL_OBJECT")
    assert writer.request("GET", "a.bin", headers=ENABLED).headers["x-amz-checksum-crc32"] == value
    ranged = writer.request("GET", "a.bin", headers={**ENABLED, "Range": "bytes=0-1"})
    assert "x-amz-checksum-crc32" not in ranged.headers
    # An object written without a checksum has none to show.
    writer.request("PUT", "plain.bin", body=b"x")
    assert not any(h.startswith("x-amz-checksum-") for h in writer.request("HEAD", "plain.bin", headers=ENABLED).headers
                   if h != "x-amz-checksum-mode")


def test_a_wrong_checksum_is_refused_and_stores_nothing(writer):
    bad = writer.request("PUT", "a.bin", body=b"hello", headers={"x-amz-checksum-crc32": b64(crc32(b"other"))})
    assert bad.status == 400
    assert writer.request("HEAD", "a.bin").status == 404


def _multipart(writer, key, algorithm, *, create_headers=None, part_values=None, send=True):
    created = writer.request("POST", key, "uploads", headers=create_headers or {})
    upload_id = created.find("UploadId")
    parts = []
    digest = crc32 if algorithm == "CRC32" else sha256
    for number, chunk in enumerate(CHUNKS, 1):
        headers = {f"x-amz-checksum-{algorithm.lower()}": b64(digest(chunk))} if send else {}
        result = writer.request("PUT", key, f"partNumber={number}&uploadId={upload_id}", body=chunk, headers=headers)
        assert result.status == 200
        value = part_values[number - 1] if part_values else result.headers.get(f"x-amz-checksum-{algorithm.lower()}")
        element = f"<Checksum{algorithm}>{value}</Checksum{algorithm}>" if value else ""
        parts.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{result.headers['etag']}</ETag>{element}</Part>")
    body = f"<CompleteMultipartUpload>{''.join(parts)}</CompleteMultipartUpload>".encode()
    return created, writer.request("POST", key, f"uploadId={upload_id}", body=body)


def test_multipart_composite_checksum(writer):
    created, done = _multipart(writer, "big.bin", "SHA256", create_headers={"x-amz-checksum-algorithm": "SHA256"})
    assert (created.headers["x-amz-checksum-algorithm"], created.headers["x-amz-checksum-type"]) == (
        "SHA256", "COMPOSITE")
    assert done.status == 200
    expected = b64(sha256(b"".join(sha256(c) for c in CHUNKS))) + "-3"
    assert (done.find("ChecksumSHA256"), done.find("ChecksumType")) == (expected, "COMPOSITE")
    head = writer.request("HEAD", "big.bin", headers=ENABLED)
    assert (head.headers["x-amz-checksum-sha256"], head.headers["x-amz-checksum-type"]) == (expected, "COMPOSITE")
    part = writer.request("GET", "big.bin", "partNumber=2", headers=ENABLED)
    assert part.headers["x-amz-checksum-sha256"] == b64(sha256(CHUNKS[1])) and part.body == CHUNKS[1]


def test_multipart_full_object_crc(writer):
    created, done = _multipart(writer, "big.bin", "CRC32", create_headers={"x-amz-checksum-algorithm": "CRC32",
                                                                           "x-amz-checksum-type": "FULL_OBJECT"})
    assert done.status == 200
    whole = b64(crc32(b"".join(CHUNKS)))
    assert (done.find("ChecksumCRC32"), done.find("ChecksumType")) == (whole, "FULL_OBJECT")
    assert writer.request("HEAD", "big.bin", headers=ENABLED).headers["x-amz-checksum-crc32"] == whole


def test_a_part_checksum_that_does_not_match_refuses_the_completion(writer):
    wrong = [b64(sha256(CHUNKS[0])), b64(sha256(b"not part two")), b64(sha256(CHUNKS[2]))]
    _, done = _multipart(writer, "big.bin", "SHA256", create_headers={"x-amz-checksum-algorithm": "SHA256"},
                         part_values=wrong)
    assert (done.status, done.code) == (400, "InvalidPart")
    assert writer.request("HEAD", "big.bin").status == 404  # nothing visible


def test_the_completion_may_name_checksums_the_upload_did_not_declare(writer):
    _, done = _multipart(writer, "big.bin", "CRC32")  # no algorithm at create; parts and completion name CRC32
    assert done.status == 200
    assert done.find("ChecksumCRC32") == b64(crc32(b"".join(crc32(c) for c in CHUNKS))) + "-3"


def test_a_completion_naming_another_algorithm_is_refused(writer):
    created = writer.request("POST", "big.bin", "uploads", headers={"x-amz-checksum-algorithm": "SHA256"})
    upload_id = created.find("UploadId")
    part = writer.request("PUT", "big.bin", f"partNumber=1&uploadId={upload_id}", body=b"x")
    body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part.headers['etag']}</ETag>"
            f"<ChecksumCRC32>{b64(crc32(b'x'))}</ChecksumCRC32></Part></CompleteMultipartUpload>").encode()
    done = writer.request("POST", "big.bin", f"uploadId={upload_id}", body=body)
    assert (done.status, done.code) == (400, "InvalidRequest")


@pytest.mark.parametrize("headers", [
    {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
    {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
    {"x-amz-checksum-algorithm": "MD4"},
    {"x-amz-checksum-type": "COMPOSITE"},
])
def test_unsupported_upload_checksums_are_refused(writer, headers):
    result = writer.request("POST", "big.bin", "uploads", headers=headers)
    assert (result.status, result.code) == (400, "InvalidRequest")


def test_get_object_attributes(writer):
    _multipart(writer, "big.bin", "SHA256", create_headers={"x-amz-checksum-algorithm": "SHA256"})
    result = writer.request("GET", "big.bin", "attributes",
                            headers={"x-amz-object-attributes": "ETag,Checksum,ObjectParts,ObjectSize"})
    assert result.status == 200
    head = writer.request("HEAD", "big.bin", headers=ENABLED)
    assert result.find("ETag") == head.headers["etag"].strip('"')
    assert result.find("Checksum/ChecksumSHA256") == head.headers["x-amz-checksum-sha256"]
    assert result.find("ObjectParts/PartsCount") == "3"
    assert result.findall("ObjectParts/Part/Size") == [str(len(c)) for c in CHUNKS]
    assert result.findall("ObjectParts/Part/ChecksumSHA256") == [b64(sha256(c)) for c in CHUNKS]
    assert result.find("ObjectSize") == str(sum(len(c) for c in CHUNKS))
    assert result.find("StorageClass") is None  # not asked for
    refused = writer.request("GET", "big.bin", "attributes", headers={"x-amz-object-attributes": "Owner"})
    assert (refused.status, refused.code) == (400, "InvalidArgument")
    missing = writer.request("GET", "nothing.bin", "attributes", headers={"x-amz-object-attributes": "ETag"})
    assert missing.code == "NoSuchKey"


def test_list_parts_answers_each_parts_checksum(writer):
    created = writer.request("POST", "big.bin", "uploads", headers={"x-amz-checksum-algorithm": "CRC32"})
    upload_id = created.find("UploadId")
    for number, chunk in enumerate(CHUNKS[:2], 1):
        sent = writer.request("PUT", "big.bin", f"partNumber={number}&uploadId={upload_id}", body=chunk,
                              headers={"x-amz-checksum-crc32": b64(crc32(chunk))})
        assert sent.status == 200
    listed = writer.request("GET", "big.bin", f"uploadId={upload_id}")
    assert (listed.find("ChecksumAlgorithm"), listed.find("ChecksumType")) == ("CRC32", "COMPOSITE")
    assert listed.findall("Part/ChecksumCRC32") == [b64(crc32(c)) for c in CHUNKS[:2]]
    # An upload created without an algorithm lists none.
    plain = writer.request("POST", "plain.bin", "uploads").find("UploadId")
    writer.request("PUT", "plain.bin", f"partNumber=1&uploadId={plain}", body=CHUNKS[0])
    listed = writer.request("GET", "plain.bin", f"uploadId={plain}")
    assert listed.find("ChecksumAlgorithm") is None and listed.findall("Part/ChecksumCRC32") == []
    assert listed.findall("Part/PartNumber") == ["1"]

