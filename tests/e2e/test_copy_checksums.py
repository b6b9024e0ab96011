"""Issue 8 items 2 and 3 with boto3: ListParts answers each part's checksum, the completion gives the composite
one, and a copy is a new single-part object as on AWS (CopyObject: the content's MD5 as ETag and a FULL_OBJECT
checksum of the source's algorithm; UploadPartCopy: the part's checksum)."""
from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from .test_checksums import s3  # noqa: F401 - the write-ticket boto3 client fixture

pytestmark = pytest.mark.clients

MiB = 1024 * 1024
PARTS = [os.urandom(5 * MiB), os.urandom(1 * MiB)]


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_list_parts_then_complete_then_copy_with_checksums(s3):  # noqa: F811
    client, bucket = s3
    upload = client.create_multipart_upload(Bucket=bucket, Key="big.bin", ChecksumAlgorithm="CRC32")
    uid = upload["UploadId"]
    sent = [client.upload_part(Bucket=bucket, Key="big.bin", UploadId=uid, PartNumber=n, Body=data,
                               ChecksumAlgorithm="CRC32") for n, data in enumerate(PARTS, 1)]
    listed = client.list_parts(Bucket=bucket, Key="big.bin", UploadId=uid)
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [crc32(p) for p in PARTS]
    assert listed["ChecksumAlgorithm"] == "CRC32"
    done = client.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "ChecksumCRC32": p["ChecksumCRC32"]}
        for p in listed["Parts"]]})
    assert done["ETag"].endswith('-2"') and done["ChecksumCRC32"].endswith("-2")
    assert [s["ChecksumCRC32"] for s in sent] == [crc32(p) for p in PARTS]
    whole = b"".join(PARTS)
    copied = client.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "big.bin"})
    result = copied["CopyObjectResult"]
    assert result["ETag"] == f'"{hashlib.md5(whole).hexdigest()}"' and result["ChecksumCRC32"] == crc32(whole)
    head = client.head_object(Bucket=bucket, Key="copy.bin", ChecksumMode="ENABLED")
    assert (head["ETag"], head["ChecksumCRC32"]) == (result["ETag"], crc32(whole))
    assert client.get_object(Bucket=bucket, Key="copy.bin", IfMatch=result["ETag"])["Body"].read() == whole
    target = client.create_multipart_upload(Bucket=bucket, Key="parts.bin", ChecksumAlgorithm="CRC32")["UploadId"]
    part = client.upload_part_copy(Bucket=bucket, Key="parts.bin", UploadId=target, PartNumber=1,
                                   CopySource={"Bucket": bucket, "Key": "copy.bin"},
                                   CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]
    assert part["ChecksumCRC32"] == crc32(PARTS[0])
    client.abort_multipart_upload(Bucket=bucket, Key="parts.bin", UploadId=target)
