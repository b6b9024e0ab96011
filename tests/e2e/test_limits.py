"""A ticket's limits changed with ``PATCH /v1/tickets/{id}`` hold at once for its S3 keys, on both backends: the uses
limit (boto3), the write-file and write-byte limits (boto3 PUTs and a multipart upload, the aws cli). A refused
write leaves nothing behind. On iRODS TicketBooth keeps the limits and counts (docs/irods.md, *What a use is*):
the iRODS ticket itself carries none and counts nothing."""
from __future__ import annotations

import os
import subprocess

import boto3
import botocore.config
import pytest
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from .conftest import BOTH, ClientFiles, require_program

pytestmark = pytest.mark.clients
BACKENDS = BOTH

MiB = 1024 * 1024


def _s3(stack, ticket):
    keys = ticket["credentials"]
    return boto3.client("s3", endpoint_url=stack.gateway_url, region_name="us-east-1",
                        aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
                        config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def _refused(call) -> str:
    """The S3 error message of a call that must be refused with 403 AccessDenied."""
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert (info.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (403, "AccessDenied")
    return error.get("Message", "")


def _patch(stack, ticket, **changes) -> dict:
    response = stack.api("PATCH", f"/v1/tickets/{ticket['id']}", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


def _irods_counts(stack, ticket) -> tuple[int, ...]:
    """The iRODS ticket row's own limits and counts (uses, write files, write bytes)."""
    from irods.models import TicketQuery as TQ

    row = stack.ticket_row(ticket["id"])
    return tuple(row[column] for column in (TQ.Ticket.uses_limit, TQ.Ticket.uses_count, TQ.Ticket.write_file_limit,
                                             TQ.Ticket.write_file_count, TQ.Ticket.write_byte_limit,
                                             TQ.Ticket.write_byte_count))


def test_a_patched_uses_limit_holds_at_once(stack, request):
    collection = stack.collection(request.node.name)
    stack.seed(collection + "/a.txt", b"a")
    ticket = stack.create_ticket(collection, uses_limit=2)
    s3, bucket = _s3(stack, ticket), ticket["s3"]["bucket"]
    s3.head_object(Bucket=bucket, Key="a.txt")
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    assert "uses limit" in _refused(lambda: s3.get_object(Bucket=bucket, Key="a.txt"))
    assert stack.api("GET", f"/v1/tickets/{ticket['id']}").json()["uses_count"] == 2
    if stack.backend == "irods":
        assert _irods_counts(stack, ticket) == (0, 0, 0, 0, 0, 0)  # iRODS neither limits nor counts
    assert _patch(stack, ticket, uses_limit=3)["uses_limit"] == 3
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    _refused(lambda: s3.get_object(Bucket=bucket, Key="a.txt"))
    assert _patch(stack, ticket, uses_limit=0)["uses_limit"] == 0  # no limit
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"


def test_patched_write_limits_hold_at_once_and_refusals_leave_nothing(stack, workdir, request):
    collection = stack.collection(request.node.name)
    ticket = stack.create_ticket(collection, access="write", write_file_limit=1)
    s3, bucket = _s3(stack, ticket), ticket["s3"]["bucket"]
    s3.put_object(Bucket=bucket, Key="one.txt", Body=b"1" * 100)
    assert "write-file limit" in _refused(lambda: s3.put_object(Bucket=bucket, Key="two.txt", Body=b"2"))
    assert not stack.exists(collection + "/two.txt")
    _patch(stack, ticket, write_file_limit=2)
    s3.put_object(Bucket=bucket, Key="two.txt", Body=b"2" * 100)
    assert stack.read(collection + "/two.txt") == b"2" * 100

    # 200 bytes written so far; 100 more allowed, and no file limit.
    shown = _patch(stack, ticket, write_file_limit=0, write_byte_limit=300)
    assert (shown["write_file_count"], shown["write_byte_count"]) == (2, 200)
    assert "write-byte limit" in _refused(lambda: s3.put_object(Bucket=bucket, Key="big.txt", Body=b"b" * 101))
    source = workdir / "multi.bin"
    source.write_bytes(os.urandom(6 * MiB))
    with pytest.raises(S3UploadFailedError) as failed:  # a multipart upload beyond the budget: refused at a part
        s3.upload_file(str(source), bucket, "multi.bin",
                       Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    assert "UploadPart" in str(failed.value) and "write-byte limit" in str(failed.value)
    aws = require_program("aws")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env = files.aws()
    result = subprocess.run([aws, "s3", "cp", str(source), f"s3://{files.bucket}/cli.bin"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "AccessDenied" in result.stderr, result.stderr
    for name in ("big.txt", "multi.bin", "cli.bin"):
        assert not stack.exists(f"{collection}/{name}"), name
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["one.txt", "two.txt"]
    s3.put_object(Bucket=bucket, Key="fits.txt", Body=b"f" * 100)  # exactly the budget left
    assert stack.read(collection + "/fits.txt") == b"f" * 100
    shown = stack.api("GET", f"/v1/tickets/{ticket['id']}").json()
    assert (shown["write_file_count"], shown["write_byte_count"]) == (3, 300)
    if stack.backend == "irods":
        limits_and_counts = _irods_counts(stack, ticket)
        assert limits_and_counts[0::2] == (0, 0, 0)  # no limits in iRODS: TicketBooth's own enforce them
