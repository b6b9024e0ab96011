"""What must fail end to end (read keys writing, anonymous writes, foreign keys, revoked tickets), and anonymous
links fetched with plain curl and requests, with no credentials at all; on both backends."""
from __future__ import annotations

import os
import subprocess

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import BOTH, ClientFiles, require_program, sha256

pytestmark = pytest.mark.clients
BACKENDS = BOTH

NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def _boto3(files: ClientFiles, monkeypatch):
    for name, value in files.aws().items():
        monkeypatch.setenv(name, value)
    return boto3.Session().client("s3", config=NO_RETRY)


def _code(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


def test_read_ticket_keys_cannot_write(stack, workdir, monkeypatch):
    collection = stack.collection("neg-read")
    stack.seed(collection + "/keep.txt", b"keep")
    ticket = stack.create_ticket(collection, access="read")
    files = ClientFiles(stack, workdir, ticket["id"])
    s3 = _boto3(files, monkeypatch)
    assert s3.get_object(Bucket=files.bucket, Key="keep.txt")["Body"].read() == b"keep"
    assert _code(lambda: s3.put_object(Bucket=files.bucket, Key="new.txt", Body=b"x")) == "AccessDenied"
    assert _code(lambda: s3.delete_object(Bucket=files.bucket, Key="keep.txt")) == "AccessDenied"
    assert _code(lambda: s3.create_multipart_upload(Bucket=files.bucket, Key="m")) == "AccessDenied"
    aws = require_program("aws")
    (workdir / "up.txt").write_bytes(b"nope")
    result = subprocess.run([aws, "s3", "cp", str(workdir / "up.txt"), f"s3://{files.bucket}/up.txt"],
                            env=files.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "AccessDenied" in result.stderr
    assert not stack.exists(collection + "/new.txt") and not stack.exists(collection + "/up.txt")
    assert stack.read(collection + "/keep.txt") == b"keep"


def test_anonymous_ticket_cannot_write_by_default(stack, workdir, monkeypatch):
    collection = stack.collection("neg-anon")
    refused = stack.api("POST", "/v1/tickets", json={"path": collection, "anonymous": True, "access": "write"})
    assert refused.status_code == 403
    ticket = stack.create_ticket(collection, anonymous=True, expires_in=3600)
    files = ClientFiles(stack, workdir, ticket["id"])
    s3 = _boto3(files, monkeypatch)
    assert _code(lambda: s3.put_object(Bucket=files.bucket, Key="x.txt", Body=b"x")) == "AccessDenied"
    assert not stack.exists(collection + "/x.txt")


def test_another_tickets_key_cannot_reach_this_data(stack, workdir, monkeypatch):
    mine = stack.collection("neg-mine")
    stack.seed(mine + "/secret.txt", b"mine")
    theirs = stack.collection("neg-theirs", user=stack.other)
    my_ticket = stack.create_ticket(mine, access="write")
    their_ticket = stack.create_ticket(theirs, user=stack.other, access="write")
    files = ClientFiles(stack, workdir, their_ticket["id"], user=stack.other)
    s3 = _boto3(files, monkeypatch)
    bucket = f"ticket-{my_ticket['id']}"
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="secret.txt")) == "AccessDenied"
    assert _code(lambda: s3.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="planted", Body=b"x")) == "AccessDenied"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [files.bucket]
    # The other user is not on the owner's ticket: the API gives them no key pair for it.
    assert stack.api("GET", f"/v1/tickets/{my_ticket['id']}/credentials", user=stack.other).status_code in (403,
                                                                                                            404)


def test_revoked_ticket_keys_and_links_fail_immediately(stack, workdir, monkeypatch):
    collection = stack.collection("neg-revoke")
    stack.seed(collection + "/f.txt", b"data")
    keyed = stack.create_ticket(collection, access="read")
    public = stack.create_ticket(collection + "/f.txt", anonymous=True, expires_in=3600)
    files = ClientFiles(stack, workdir, keyed["id"])
    s3 = _boto3(files, monkeypatch)
    link = public["links"]["public"]
    assert s3.get_object(Bucket=files.bucket, Key="f.txt")["Body"].read() == b"data"
    assert requests.get(link, timeout=30).content == b"data"
    stack.revoke(keyed["id"])
    stack.revoke(public["id"])
    assert _code(lambda: s3.get_object(Bucket=files.bucket, Key="f.txt")) == "InvalidAccessKeyId"
    gone = requests.get(link, timeout=30)
    assert gone.status_code in (403, 404, 410)
    assert b"data" != gone.content


def test_anonymous_data_object_link_with_curl(stack, workdir):
    curl = require_program("curl")
    collection = stack.collection("links-object")
    payload = os.urandom(100_000)
    stack.seed(collection + "/report 2024.pdf", payload)
    ticket = stack.create_ticket(collection + "/report 2024.pdf", anonymous=True, expires_in=3600)
    link = ticket["links"]["public"]
    result = subprocess.run([curl, "-fsS", "-O", link], cwd=workdir, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sha256((workdir / "report%202024.pdf").read_bytes()) == sha256(payload)
    ranged = subprocess.run([curl, "-fsS", "-r", "100-199", link], capture_output=True, timeout=60)
    assert ranged.stdout == payload[100:200]
    response = requests.get(link, headers={"Range": "bytes=-10"}, timeout=30)
    assert response.status_code == 206 and response.content == payload[-10:]
    assert stack.uses(ticket["id"], settle=3) == 3


def test_anonymous_collection_link_page_lists_files(stack):
    collection = stack.collection("links-collection")
    stack.seed(collection + "/one.txt", b"1" * 1234)
    stack.seed(collection + "/sub/two.txt", b"22")
    ticket = stack.create_ticket(collection, anonymous=True, expires_in=3600)
    link = ticket["links"]["public"]
    page = requests.get(link, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "one.txt" in page.text and "sub/" in page.text and "1234" in page.text.replace(",", "")
    file_link = link.rstrip("/") + "/one.txt"
    assert requests.get(file_link, timeout=30).content == b"1" * 1234
    assert requests.get(link.rstrip("/") + "/sub/two.txt", headers={"Range": "bytes=1-1"}, timeout=30).content == b"2"
    # No credentials means no writes, whatever the method.
    assert requests.put(file_link, data=b"x", timeout=30).status_code in (403, 405)
    assert stack.read(collection + "/one.txt") == b"1" * 1234
