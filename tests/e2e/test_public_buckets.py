"""Unsigned reads of an anonymous ticket's public bucket (``s3.public_bucket``) with real clients that have no
credentials at all: ``aws --no-sign-request``, botocore ``UNSIGNED``, pyarrow ``anonymous=True`` and DuckDB
without a secret. Writes are refused, and revoking the ticket ends it at once."""
from __future__ import annotations

import os
import subprocess

import boto3
import botocore.config
import pyarrow.fs
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from ..datatools import duckdb_connection
from .conftest import BOTH, require_program

pytestmark = pytest.mark.clients
BACKENDS = BOTH

CSV = b"name,value\nalpha,1\nbeta,41\n"
BLOB = os.urandom(200_000)


@pytest.fixture
def public(stack, request):
    logical = stack.collection(f"public-{request.node.name}"[:60])
    stack.seed(f"{logical}/data.csv", CSV)
    stack.seed(f"{logical}/nested/blob.bin", BLOB)
    ticket = stack.create_ticket(logical, anonymous=True, expires_in=3600)
    return ticket, ticket["s3"]["public_bucket"]


def no_credentials_env(workdir) -> dict[str, str]:
    return {"HOME": str(workdir), "PATH": os.environ.get("PATH", ""), "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1"}


def test_aws_cli_no_sign_request(stack, public, workdir):
    aws = require_program("aws")
    ticket, bucket = public
    env = no_credentials_env(workdir)
    base = [aws, "--no-sign-request", "--endpoint-url", stack.gateway_url]
    listing = subprocess.run(base + ["s3", "ls", "--recursive", f"s3://{bucket}/"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "data.csv" in listing.stdout and "nested/blob.bin" in listing.stdout
    copied = subprocess.run(base + ["s3", "cp", f"s3://{bucket}/nested/blob.bin", str(workdir / "blob.bin")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    assert (workdir / "blob.bin").read_bytes() == BLOB
    (workdir / "up.txt").write_text("no")
    upload = subprocess.run(base + ["s3", "cp", str(workdir / "up.txt"), f"s3://{bucket}/up.txt"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert upload.returncode != 0 and "AccessDenied" in upload.stderr


def test_botocore_unsigned_then_revoked(stack, public):
    ticket, bucket = public
    s3 = boto3.client("s3", endpoint_url=stack.gateway_url, region_name="us-east-1",
                      config=botocore.config.Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}))
    listed = s3.list_objects_v2(Bucket=bucket)
    assert listed["Name"] == bucket and sorted(o["Key"] for o in listed["Contents"]) == ["data.csv",
                                                                                         "nested/blob.bin"]
    assert s3.get_object(Bucket=bucket, Key="data.csv")["Body"].read() == CSV
    assert s3.head_object(Bucket=bucket, Key="nested/blob.bin")["ContentLength"] == len(BLOB)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):  # the ticket's own bucket is not public
        s3.list_objects_v2(Bucket=ticket["s3"]["bucket"])
    stack.revoke(ticket["id"])
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket=bucket, Key="data.csv")
    assert gone.value.response["Error"]["Code"] == "AccessDenied"


def test_pyarrow_anonymous(stack, public):
    _, bucket = public
    fs = pyarrow.fs.S3FileSystem(anonymous=True, endpoint_override=stack.gateway_url.split("://", 1)[1],
                                 scheme="http", region="us-east-1", force_virtual_addressing=False)
    with fs.open_input_file(f"{bucket}/nested/blob.bin") as stream:
        assert stream.read() == BLOB
    infos = fs.get_file_info(pyarrow.fs.FileSelector(bucket, recursive=True))
    assert {i.path for i in infos if i.type == pyarrow.fs.FileType.File} == {f"{bucket}/data.csv",
                                                                              f"{bucket}/nested/blob.bin"}


def test_duckdb_without_a_secret(stack, public):
    _, bucket = public
    connection = duckdb_connection()
    host = stack.gateway_url.split("://", 1)[1]
    connection.execute(f"SET s3_endpoint = '{host}'")
    connection.execute("SET s3_url_style = 'path'")
    connection.execute("SET s3_use_ssl = false")
    connection.execute("SET s3_region = 'us-east-1'")
    assert connection.execute(f"SELECT sum(value) FROM read_csv('s3://{bucket}/data.csv')").fetchone() == (42,)
