"""Requests signed by real clients verify: boto3/botocore (SigV4 header, presigned SigV4, SigV2
header and presigned, and the aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER body botocore's
checksum code produces) and minio-py's signer. Requests are captured before they leave the
client (botocore ``before-send``); time is frozen with freezegun and handed to ``verify``."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from freezegun import freeze_time
from minio.credentials import Credentials as MinioCredentials
from minio.signer import presign_v4, sign_v4_s3

from ticketbooth.sigv4 import SignatureDoesNotMatch, verify

KEY, SECRET = "TBKEYEXAMPLE0000001", "tb/secret+example/0123456789abcdefghijkl"
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
ENDPOINT = "https://gateway.example:8443"


class _Raw:
    def stream(self, **_):
        yield b""

    def read(self, *_):
        return b""


def boto_client(**config):
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )
    captured = []

    def before_send(request, **_):
        captured.append(request)
        return AWSResponse(request.url, 200, {"ETag": '"0"', "Content-Length": "0"}, _Raw())

    client.meta.events.register("before-send.s3", before_send)
    return client, captured


def check(request, body=b""):
    split = urlsplit(request.url)
    headers = list(request.headers.items())
    stream = request.body
    if stream is None:
        stream = b""
    elif hasattr(stream, "read"):
        pass
    elif isinstance(stream, str):
        stream = stream.encode()
    return verify(request.method, split.path, split.query, headers, stream, {KEY: SECRET}.get, now=NOW)


@freeze_time(NOW)
@pytest.mark.parametrize("key", ["plain.txt", "dir/sub dir/ünïcödé +&=?#%.bin", "a//b/./c/../d", "~tilde$"])
def test_botocore_sigv4_header_get(key: str) -> None:
    client, captured = boto_client(signature_version="s3v4")
    client.get_object(Bucket="bucket1", Key=key, Range="bytes=0-9")
    result = check(captured[0])
    assert (result.scheme, result.access_key_id) == ("v4-header", KEY)


@freeze_time(NOW)
@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_botocore_streaming_unsigned_trailer(algorithm: str) -> None:
    client, captured = boto_client(signature_version="s3v4")
    data = bytes(range(256)) * 1000
    client.put_object(Bucket="bucket1", Key="obj", Body=data, ChecksumAlgorithm=algorithm, ContentType="text/plain")
    request = captured[0]
    assert b"aws-chunked" in request.headers["Content-Encoding"]
    result = check(request)
    assert result.payload_mode == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert result.checksum_algorithm == algorithm
    assert result.decoded_content_length == len(data)
    assert result.body.read() == data
    assert result.body.read() == b""
    assert result.body.trailing_checksum


@freeze_time(NOW)
def test_botocore_literal_payload_over_http() -> None:
    client = boto3.session.Session().client(
        "s3", endpoint_url="http://127.0.0.1:9", region_name="eu-west-1",
        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path", "payload_signing_enabled": True},
                      request_checksum_calculation="when_required"),
    )
    captured = []
    client.meta.events.register(
        "before-send.s3",
        lambda request, **_: captured.append(request) or AWSResponse(request.url, 200, {}, _Raw()),
    )
    client.put_object(Bucket="b", Key="k", Body=b"hello world")
    result = check(captured[0])
    assert result.payload_mode == "SHA256"
    assert result.region == "eu-west-1"
    assert result.body.read() == b"hello world"


@freeze_time(NOW)
def test_botocore_presigned_v4() -> None:
    client, _ = boto_client(signature_version="s3v4")
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "x y/z"}, ExpiresIn=600)
    split = urlsplit(url)
    result = verify("GET", split.path, split.query, [("Host", split.netloc)], b"", {KEY: SECRET}.get, now=NOW)
    assert result.scheme == "v4-query"
    assert result.expires_at == NOW.replace(microsecond=0) + (result.expires_at - result.signed_at)
    with pytest.raises(SignatureDoesNotMatch):
        verify("GET", split.path + "x", split.query, [("Host", split.netloc)], b"", {KEY: SECRET}.get, now=NOW)


@freeze_time(NOW)
def test_botocore_sigv2_header_and_presigned() -> None:
    client, captured = boto_client(signature_version="s3")
    client.put_object(Bucket="b", Key="k/v2.txt", Body=b"data", ContentType="text/plain", Metadata={"a": "1"})
    result = check(captured[-1])
    assert result.scheme == "v2-header"
    assert "x-amz-meta-a" in result.signed_headers
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k/v2 é.txt"}, ExpiresIn=300)
    split = urlsplit(url)
    result = verify("GET", split.path, split.query, [("Host", split.netloc)], b"", {KEY: SECRET}.get, now=NOW)
    assert result.scheme == "v2-query"


@pytest.mark.parametrize("path", ["/bucket/object.txt", "/bucket/a%20b/c%2Bd", "/bucket/"])
def test_minio_signer(path: str) -> None:
    credentials = MinioCredentials(KEY, SECRET)
    body = b"minio body"
    digest = hashlib.sha256(body).hexdigest()
    url = urlsplit(f"http://127.0.0.1:9000{path}?uploads=&x-id=1")
    headers = {"Host": "127.0.0.1:9000", "x-amz-content-sha256": digest, "x-amz-date": NOW.strftime("%Y%m%dT%H%M%SZ")}
    signed = sign_v4_s3(method="PUT", url=url, region="us-east-1", headers=dict(headers),
                        credentials=credentials, content_sha256=digest, date=NOW)
    result = verify("PUT", url.path, url.query, signed, body, {KEY: SECRET}.get, now=NOW)
    assert result.body.read() == body
    presigned = presign_v4(method="GET", url=url, region="us-east-1", credentials=credentials, date=NOW, expires=900)
    result = verify("GET", presigned.path, presigned.query, [("Host", "127.0.0.1:9000")], b"", {KEY: SECRET}.get, now=NOW)
    assert result.scheme == "v4-query"
