"""The gateway on a real loopback socket with boto3 (the fixture the end-to-end tests reuse)."""
from __future__ import annotations

import os
import urllib.request

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from ticketbooth.model import Access


@pytest.fixture
def s3(gateway_server):
    world, url = gateway_server
    ticket = world.ticket("ds1", access=Access.WRITE)
    akid, secret = world.keys(ticket)
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id=akid, aws_secret_access_key=secret,
                          region_name="us-east-1", config=Config(s3={"addressing_style": "path"},
                                                                 retries={"max_attempts": 1}))
    return world, url, ticket, client


def test_boto3_put_get_list_and_multipart_upload_file(s3, tmp_path):
    world, _, ticket, client = s3
    bucket = f"ticket-{ticket.id}"
    client.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"hello loopback")
    assert client.get_object(Bucket=bucket, Key="dir/hello.txt")["Body"].read() == b"hello loopback"
    ranged = client.get_object(Bucket=bucket, Key="dir/hello.txt", Range="bytes=6-")
    assert ranged["Body"].read() == b"loopback"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a.txt", "dir/hello.txt"]
    source = tmp_path / "big.bin"
    data = os.urandom(11 * 1024 * 1024)
    source.write_bytes(data)
    client.upload_file(str(source), bucket, "big.bin",
                       Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    assert client.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == len(data)
    target = tmp_path / "back.bin"
    client.download_file(bucket, "big.bin", str(target))
    assert target.read_bytes() == data


def test_anonymous_link_over_http(gateway_server):
    world, url = gateway_server
    ticket = world.ticket("ds1", anonymous=True)
    with urllib.request.urlopen(f"{url}/_t/{ticket.string}/a.txt") as response:  # noqa: S310 - loopback
        assert response.read() == b"hello world"
