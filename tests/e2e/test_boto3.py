"""boto3 against the running gateway, configured only from the API's ``credentials?format=aws`` output, on both
backends (on iRODS the uploads are checked in the zone with python-irodsclient)."""
from __future__ import annotations

import hashlib
import os

import boto3
import botocore.config
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from .conftest import BOTH, ClientFiles, file_sha256, sha256

pytestmark = pytest.mark.clients
BACKENDS = BOTH

MiB = 1024 * 1024


def _client(files: ClientFiles, monkeypatch, **config):
    for name, value in files.aws().items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    return session.client("s3", config=botocore.config.Config(**config) if config else None)


@pytest.fixture
def write_ticket(stack, request):
    collection = stack.collection(f"boto3-{request.node.name}")
    stack.seed(collection + "/seed/hello.txt", b"hello, world\n" * 100)
    return stack.create_ticket(collection, access="write")


def test_list_get_range_put(stack, workdir, monkeypatch, write_ticket):
    files = ClientFiles(stack, workdir, write_ticket["id"])
    s3 = _client(files, monkeypatch)
    listing = s3.list_objects_v2(Bucket=files.bucket)
    assert [item["Key"] for item in listing["Contents"]] == ["seed/hello.txt"]
    assert s3.list_objects_v2(Bucket=files.bucket, Delimiter="/")["CommonPrefixes"] == [{"Prefix": "seed/"}]
    ranged = s3.get_object(Bucket=files.bucket, Key="seed/hello.txt", Range="bytes=7-11")
    assert ranged["Body"].read() == b"world"
    assert ranged["ContentRange"] == f"bytes 7-11/{13 * 100}"
    payload = os.urandom(200_000)
    s3.put_object(Bucket=files.bucket, Key="up/put.bin", Body=payload)
    assert s3.get_object(Bucket=files.bucket, Key="up/put.bin")["Body"].read() == payload
    assert sha256(stack.read(write_ticket["path"] + "/up/put.bin")) == sha256(payload)
    if stack.backend == "irods":  # written as the ticket's owner, with the MD5 iRODS keeps as its checksum
        stored = stack.data_object(write_ticket["path"] + "/up/put.bin")
        assert (stored.owner_name, stored.checksum) == (stack.owner, hashlib.md5(payload).hexdigest())


def test_upload_file_multipart_and_download(stack, workdir, monkeypatch, write_ticket):
    files = ClientFiles(stack, workdir, write_ticket["id"])
    s3 = _client(files, monkeypatch)
    source = workdir / "big.bin"
    source.write_bytes(os.urandom(11 * MiB))
    seen: list[str] = []
    s3.meta.events.register("before-send.s3.UploadPart", lambda request, **_: seen.append(request.url))
    statuses: list[object] = []
    s3.meta.events.register("needs-retry.s3.UploadPart",
                            lambda response, **_: statuses.append(response and (response[0].status_code,
                                                                                response[0].content[:300])))
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)
    s3.upload_file(str(source), files.bucket, "multi/big.bin", Config=transfer)
    part_numbers = {url.rsplit("partNumber=", 1)[1] for url in seen}
    assert part_numbers == {"1", "2", "3"}, statuses  # 5 + 5 + 1 MiB: really a multipart upload
    target = workdir / "back.bin"
    s3.download_file(files.bucket, "multi/big.bin", str(target), Config=transfer)
    assert file_sha256(target) == file_sha256(source)
    assert sha256(stack.read(write_ticket["path"] + "/multi/big.bin")) == file_sha256(source)


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"], ids=["v4", "v2"])
def test_presigned_get(stack, workdir, monkeypatch, write_ticket, signature_version):
    files = ClientFiles(stack, workdir, write_ticket["id"])
    s3 = _client(files, monkeypatch, signature_version=signature_version, s3={"addressing_style": "path"})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": files.bucket, "Key": "seed/hello.txt"},
                                    ExpiresIn=300)
    assert ("X-Amz-Signature" in url) == (signature_version == "s3v4")
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == b"hello, world\n" * 100
    tampered = requests.get(url.replace("hello.txt", "hello.txx"), timeout=30)
    assert tampered.status_code == 403


def test_https_put_with_unsigned_payload_trailer(stack, workdir, monkeypatch, write_ticket):
    files = ClientFiles(stack, workdir, write_ticket["id"], tls=True)
    s3 = _client(files, monkeypatch)
    assert s3.meta.endpoint_url.startswith("https://")
    sent: list[dict[str, str]] = []
    s3.meta.events.register("before-send.s3.PutObject",
                            lambda request, **_: sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v
                                                              for k, v in request.headers.items()}))
    payload = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=files.bucket, Key="tls/object.bin", Body=payload)
    assert sent[0]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in sent[0]["content-encoding"]
    assert sha256(stack.read(write_ticket["path"] + "/tls/object.bin")) == sha256(payload)
    assert s3.get_object(Bucket=files.bucket, Key="tls/object.bin")["Body"].read() == payload
    head = s3.head_object(Bucket=files.bucket, Key="tls/object.bin")
    assert head["ContentLength"] == len(payload)
    assert "aws-chunked" not in (head.get("ContentEncoding") or "")


def test_presign_endpoint_urls_work_with_the_gateway_and_die_with_the_ticket(stack, write_ticket):
    ticket_id = write_ticket["id"]
    put = stack.api("POST", f"/v1/tickets/{ticket_id}/presign", json={"key": "pre/up.bin", "method": "PUT"}).json()
    payload = os.urandom(50_000)
    assert requests.put(put["url"], data=payload, timeout=30).status_code == 200
    get = stack.api("POST", f"/v1/tickets/{ticket_id}/presign", json={"key": "pre/up.bin"}).json()
    downloaded = requests.get(get["url"], timeout=30)
    assert downloaded.status_code == 200 and downloaded.content == payload
    stack.revoke(ticket_id)
    after = requests.get(get["url"], timeout=30)
    assert after.status_code == 403
    assert b"InvalidAccessKeyId" in after.content


def test_other_ticket_key_cannot_reach_this_ticket(stack, workdir, monkeypatch, write_ticket, request):
    other_collection = stack.collection(f"boto3-other-{request.node.name}")
    other = stack.create_ticket(other_collection, access="write")
    files = ClientFiles(stack, workdir, other["id"])
    s3 = _client(files, monkeypatch)
    bucket = f"ticket-{write_ticket['id']}"
    for call in (lambda: s3.list_objects_v2(Bucket=bucket),
                 lambda: s3.get_object(Bucket=bucket, Key="seed/hello.txt"),
                 lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x")):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == "AccessDenied"
    # '..' in a key cannot climb out of the other ticket's own collection either.
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=files.bucket, Key=f"../{write_ticket['path'].rsplit('/', 1)[1]}/seed/hello.txt")
    assert info.value.response["Error"]["Code"] in ("InvalidArgument", "AccessDenied", "NoSuchKey")
