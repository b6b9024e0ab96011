"""Issue 8 item 6 with boto3: a multipart upload with ChecksumAlgorithm completes, and the checksums come back
(PutObject's echo, HEAD/GET with ChecksumMode=ENABLED: composite for multipart, per part with PartNumber)."""
from __future__ import annotations

import base64
import hashlib
import os
import zlib

import boto3
import botocore.config
import pytest
from boto3.s3.transfer import TransferConfig

from .conftest import BOTH

pytestmark = pytest.mark.clients
BACKENDS = BOTH

MiB = 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


@pytest.fixture
def s3(stack, request):
    ticket = stack.create_ticket(stack.collection(f"sums-{request.node.name}"[:60]), access="write")
    creds = stack.api("GET", f"/v1/tickets/{ticket['id']}/credentials").json()
    client = boto3.client("s3", endpoint_url=creds["endpoint_url"], region_name=creds["region"],
                          aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
    return client, ticket["s3"]["bucket"]


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32"])
def test_multipart_upload_with_checksum_algorithm_completes(s3, workdir, algorithm):
    client, bucket = s3
    data = os.urandom(11 * MiB)
    (workdir / "big.bin").write_bytes(data)
    client.upload_file(str(workdir / "big.bin"), bucket, "big.bin", ExtraArgs={"ChecksumAlgorithm": algorithm},
                       Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    digest = hashlib.sha256 if algorithm == "SHA256" else None
    parts = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]

    def part_digest(chunk: bytes) -> bytes:
        return digest(chunk).digest() if digest else zlib.crc32(chunk).to_bytes(4, "big")

    outer = part_digest(b"".join(part_digest(p) for p in parts))
    head = client.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == f"{b64(outer)}-3"
    got = client.get_object(Bucket=bucket, Key="big.bin", PartNumber=2, ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == b64(part_digest(parts[1])) and got["Body"].read() == parts[1]


def test_put_object_checksum_is_echoed_and_kept(s3):
    client, bucket = s3
    body = os.urandom(100_000)
    put = client.put_object(Bucket=bucket, Key="one.bin", Body=body, ChecksumAlgorithm="CRC32")
    expected = b64(zlib.crc32(body).to_bytes(4, "big"))
    assert put["ChecksumCRC32"] == expected
    got = client.get_object(Bucket=bucket, Key="one.bin", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == expected and got["Body"].read() == body  # botocore validates it too


def test_get_object_attributes_with_boto3(s3, workdir):
    client, bucket = s3
    data = os.urandom(11 * MiB)
    (workdir / "big.bin").write_bytes(data)
    client.upload_file(str(workdir / "big.bin"), bucket, "big.bin", ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                       Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    attributes = client.get_object_attributes(Bucket=bucket, Key="big.bin",
                                              ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"])
    assert attributes["ObjectSize"] == len(data)
    assert attributes["ObjectParts"]["TotalPartsCount"] == 3
    assert [p["Size"] for p in attributes["ObjectParts"]["Parts"]] == [5 * MiB, 5 * MiB, MiB]
    assert attributes["Checksum"]["ChecksumSHA256"].endswith("-3")
    assert '"' + attributes["ETag"] + '"' == client.head_object(Bucket=bucket, Key="big.bin")["ETag"]
