"""Issue 8 item 5 with real clients: a multipart upload (boto3's upload_file, obstore's multipart put) keeps
its multipart ETag for HEAD, GET If-Match and listings, and ``GetObject PartNumber=N`` returns part N; an object
put in place past TicketBooth (into iRODS without a checksum) has one provisional ETag that conditions honour."""
from __future__ import annotations

import hashlib
import io
import os
import re

import boto3
import botocore.config
import obstore
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from obstore.exceptions import PreconditionError
from obstore.store import S3Store

from .conftest import BOTH

pytestmark = pytest.mark.clients
BACKENDS = BOTH

MiB = 1024 * 1024
DATA = os.urandom(12 * MiB)


@pytest.fixture
def ticket(stack, request):
    return stack.create_ticket(stack.collection(f"etags-{request.node.name}"[:60]), access="write")


def _boto3(stack, ticket):
    creds = stack.api("GET", f"/v1/tickets/{ticket['id']}/credentials").json()
    return boto3.client("s3", endpoint_url=creds["endpoint_url"], region_name=creds["region"],
                        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
                        config=botocore.config.Config(s3={"addressing_style": "path"}))


def test_boto3_multipart_then_if_match_and_part_number(stack, ticket, workdir):
    s3, bucket = _boto3(stack, ticket), ticket["s3"]["bucket"]
    (workdir / "big.bin").write_bytes(DATA)
    s3.upload_file(str(workdir / "big.bin"), bucket, "big.bin",
                   Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-3"')
    got = s3.get_object(Bucket=bucket, Key="big.bin", IfMatch=head["ETag"])
    assert got["Body"].read() == DATA and got["ETag"] == head["ETag"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [("big.bin", head["ETag"])]
    part = s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=2)
    assert part["PartsCount"] == 3 and part["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB - 1}/{len(DATA)}"
    assert part["Body"].read() == DATA[5 * MiB:10 * MiB]
    assert s3.head_object(Bucket=bucket, Key="big.bin", PartNumber=3)["ContentLength"] == 2 * MiB
    with pytest.raises(ClientError) as beyond:
        s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=4)
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_obstore_multipart_put_then_conditional_get(stack, ticket):
    options = {**stack.api("GET", f"/v1/tickets/{ticket['id']}/credentials", params={"format": "polars"}).json()}
    store = S3Store(ticket["s3"]["bucket"], config=options)
    result = obstore.put(store, "ob.bin", io.BytesIO(DATA), use_multipart=True, chunk_size=5 * MiB)
    etag = result["e_tag"]
    assert etag is not None and etag.strip('"').endswith("-3")
    got = obstore.get(store, "ob.bin", options={"if_match": etag})
    assert bytes(got.bytes()) == DATA
    assert obstore.head(store, "ob.bin")["e_tag"] == etag
    with pytest.raises(PreconditionError):
        obstore.get(store, "ob.bin", options={"if_match": '"not-the-etag"'})


def test_an_object_put_in_place_past_ticketbooth_has_one_stable_etag(stack, ticket):
    # docs/irods.md (ETags): such an object's MD5 is unknown, so its ETag is "<modify time hex>-<size hex>", the
    # same for HEAD, GET and both listings (s3fs and DuckDB compare it between the requests of one read).
    s3, bucket, path = _boto3(stack, ticket), ticket["s3"]["bucket"], ticket["path"] + "/by-hand.csv"
    content = b"name,value\nalpha,1\n"
    stack.seed(path, content)
    etag = s3.head_object(Bucket=bucket, Key="by-hand.csv")["ETag"]
    assert re.fullmatch(rf'"[0-9a-f]+-{len(content):x}"', etag), etag
    got = s3.get_object(Bucket=bucket, Key="by-hand.csv", IfMatch=etag)
    assert got["Body"].read() == content and got["ETag"] == etag
    ranged = s3.get_object(Bucket=bucket, Key="by-hand.csv", Range="bytes=0-3", IfMatch=etag)
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206 and ranged["Body"].read() == content[:4]
    assert [o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [etag]
    assert [o["ETag"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [etag]
    assert s3.head_object(Bucket=bucket, Key="by-hand.csv")["ETag"] == etag
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="by-hand.csv", IfNoneMatch=etag)
    assert not_modified.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304

    stack.seed(path, content + b"beta,2\n")  # replaced past TicketBooth: another ETag, the old one fails
    replaced = s3.head_object(Bucket=bucket, Key="by-hand.csv")["ETag"]
    assert replaced != etag and s3.get_object(Bucket=bucket, Key="by-hand.csv")["ETag"] == replaced
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="by-hand.csv", IfMatch=etag)
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412

    md5 = f'"{hashlib.md5(content).hexdigest()}"'  # written through S3: the ETag is the MD5 from then on
    assert s3.put_object(Bucket=bucket, Key="by-hand.csv", Body=content, IfMatch=replaced)["ETag"] == md5
    assert s3.head_object(Bucket=bucket, Key="by-hand.csv")["ETag"] == md5
    assert [o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [md5]
