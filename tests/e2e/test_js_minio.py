"""minio-js (pinned in tests/e2e/js/package-lock.json) against the running gateway, one node process per
scenario group."""
from __future__ import annotations

import hashlib
import re

import pytest

from .conftest import BOTH, sha256
from .js_clients import pattern, run_node, ticket_keys

pytestmark = pytest.mark.clients
BACKENDS = BOTH  # the same scripts and judgements on embedded and on the real iRODS zone

BIG = pattern(1_000_003, 1)


@pytest.fixture
def collection(stack, request):
    logical = stack.collection(f"js-minio-{request.node.name}")
    stack.seed(logical + "/seed/big.bin", BIG)
    stack.seed(logical + "/seed/sub/small.txt", b"small\n")
    return logical


def test_read_write(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "write")
    out = run_node("minio.mjs", "readWrite", env)
    assert out["bucketExists"] is True
    assert out["listed"] == [["seed/big.bin", len(BIG)], ["seed/sub/small.txt", 6]]
    assert out["delimited"] == ["seed/"]
    assert out["get"] == out["fGet"] == sha256(BIG)
    assert out["partial"] == sha256(BIG[100:1100])
    buffer = pattern(300_000, 7)
    assert out["putBuffer"] == hashlib.md5(buffer).hexdigest()
    assert out["stat"]["size"] == len(buffer) and out["stat"]["etag"] == out["putBuffer"]
    assert out["stat"]["meta"]["content-type"] == "application/x-test"
    assert out["stat"]["meta"]["colour"] == "blue"
    assert sha256(stack.read(collection + "/up/buffer.bin") or b'') == sha256(buffer)
    assert out["putStream"]["sha"] == out["putStream"]["expected"]
    assert out["multipart"]["sha"] == out["multipart"]["expected"]
    # A stream of unknown length goes up as a multipart upload (ETag "<md5 of part md5s>-<parts>"); minio-js
    # 8.0.7 decides its own part count (one part numbered 2 here), which the gateway accepts as AWS does.
    assert re.fullmatch(r"[0-9a-f]{32}-[0-9]+", out["multipart"]["etag"])
    assert sha256(stack.read(collection + "/multi/twelve.bin") or b'') == out["multipart"]["expected"]
    assert out["fPut"]["sha"] == out["multipart"]["expected"], out["fPut"]
    assert re.fullmatch(r"[0-9a-f]{32}-[0-9]+", out["fPut"]["etag"]), out["fPut"]
    assert sha256(stack.read(collection + "/multi/file.bin") or b'') == out["multipart"]["expected"]
    assert out["copy"] == sha256(buffer)
    assert out["presigned"] == {"status": 200, "sha": sha256(BIG)}
    assert out["presignedPut"] == 200
    assert stack.read(collection + "/up/presigned.bin") == pattern(1234, 2)
    assert not stack.exists(collection + "/up/copy.bin")
    assert not stack.exists(collection + "/up/stream.bin")
    assert out["afterRemove"] == {"code": "NotFound"}


def test_read_ticket_refuses_writes(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "read")
    out = run_node("minio.mjs", "refusals", env)
    assert out == {"put": {"code": "AccessDenied"}, "remove": {"code": "AccessDenied"}, "stat": None}
    assert not stack.exists(collection + "/up/nope.bin")
    assert stack.exists(collection + "/seed/big.bin")


def test_revoked_keys_refused(stack, workdir, collection):
    ticket, env = ticket_keys(stack, workdir, collection, "write")
    stack.revoke(ticket["id"])
    out = run_node("minio.mjs", "refusals", env)
    assert out["put"] == out["remove"] == {"code": "InvalidAccessKeyId"}, out
    assert out["stat"] is not None, out  # a HEAD has no body: minio-js names the status only
    assert not stack.exists(collection + "/up/nope.bin")
