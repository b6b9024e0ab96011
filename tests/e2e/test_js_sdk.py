"""The AWS SDK for JavaScript v3 (@aws-sdk/client-s3, lib-storage, s3-request-presigner; pinned in
tests/e2e/js/package-lock.json) against the running gateway, one node process per scenario group."""
from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Callable

import pytest

from .conftest import BOTH, sha256
from .js_clients import pattern, run_node, ticket_keys

pytestmark = pytest.mark.clients
BACKENDS = BOTH  # the same scripts and judgements on embedded and on the real iRODS zone

MiB = 1024 * 1024
BIG = pattern(1_000_003, 1)
# What each test's collection holds before the scripts run (key under the ticket's path -> bytes).
SEED = {"seed/big.bin": BIG, **{f"seed/{name}.txt": name.encode() * 10 for name in "abcde"}}


@pytest.fixture
def collection(stack, request):
    logical = stack.collection(f"js-sdk-{request.node.name}")
    for key, data in SEED.items():
        stack.seed(f"{logical}/{key}", data)
    return logical


def test_read_write(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "write")
    assert_read_write(run_node("sdk.mjs", "readWrite", env), env["TICKETBOOTH_BUCKET"],
                      lambda key: stack.read(f"{collection}/{key}"))


def assert_read_write(out: dict, bucket: str, stored: Callable[[str], bytes | None]) -> None:
    """Judge sdk.mjs readWrite on a collection seeded with :data:`SEED` (past TicketBooth, so without a known
    MD5); ``stored(key)`` reads what the backend holds under the ticket's path (None: nothing)."""
    assert out["buckets"] == [bucket]
    assert out["headBucket"] == 200
    assert out["paginated"] == {"keys": sorted(SEED), "pages": 3}
    assert out["prefixes"] == ["seed/"]
    assert out["get"]["sha"] == sha256(BIG) and out["get"]["length"] == len(BIG)
    assert out["range"] == {"sha": sha256(BIG[100:1100]), "contentRange": f"bytes 100-1099/{len(BIG)}",
                            "status": 206}
    # An object put in place past TicketBooth has the provisional ETag "<modify time hex>-<size hex>" on both
    # backends (docs/irods.md, docs/embedded.md), the same for GET, HEAD and the listing, and conditions honour it.
    etag = out["get"]["etag"]
    assert re.fullmatch(rf'"[0-9a-f]+-{len(BIG):x}"', etag), etag
    assert out["head"] == {"length": len(BIG), "etag": etag} and out["listedEtag"] == etag
    assert out["ifMatch"] == {"status": 206, "etag": etag, "sha": sha256(BIG[:10])}
    assert out["ifNoneMatch"] is not None and out["ifNoneMatch"]["status"] == 304  # the SDK throws on a 304
    buffer = pattern(300_000, 7)
    assert out["putBuffer"]["etag"] == f'"{hashlib.md5(buffer).hexdigest()}"'
    # Recent SDK v3 versions send a CRC32 by default (requestChecksumCalculation WHEN_SUPPORTED); the gateway
    # checks it and echoes it.
    assert out["putBuffer"]["crc32"] == base64.b64encode(zlib.crc32(buffer).to_bytes(4, "big")).decode()
    assert out["metadata"] == {"meta": {"colour": "blue", "note-two": "zwei"}, "contentType": "application/x-test",
                               "length": len(buffer)}
    assert stored("up/buffer.bin") == buffer
    assert out["putStream"]["sha"] == out["putStream"]["expected"]
    assert sha256(stored("up/stream.bin") or b"") == out["putStream"]["expected"]
    assert out["crc32c"] and out["crc32cGet"] == {"sha": sha256(pattern(5000, 3)), "checksum": out["crc32c"]}
    assert out["whenRequired"] == sha256(pattern(4000, 9))
    assert out["copy"] == sha256(buffer)
    assert out["deleted"] == ["up/never-was.bin", "up/when-required.bin"] and out["deleteErrors"] == []
    assert stored("up/when-required.bin") is None and stored("up/copy.bin") is None
    assert out["afterDelete"] == {"name": "NotFound", "status": 404}
    assert out["missing"] == {"name": "NoSuchKey", "status": 404}


def test_lib_storage_multipart(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "write")
    out = run_node("sdk.mjs", "multipart", env)
    assert out["sha"] == out["expected"] == out["streamSha"]
    assert out["parts"] == [1, 2, 3]  # 5 + 5 + 2 MiB
    assert out["etag"].endswith('-3"')
    assert sha256(stack.read(collection + "/multi/twelve.bin") or b'') == out["expected"]


def test_presigned_urls(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "write")
    out = run_node("sdk.mjs", "presigned", env)
    assert out["getStatus"] == 200 and out["getSha"] == sha256(BIG)
    assert out["putStatus"] == 200 and out["putSha"] == out["expected"]
    assert out["tampered"] == 403 and "<Code>SignatureDoesNotMatch</Code>" in out["tamperedBody"]


def test_read_ticket_refuses_writes(stack, workdir, collection):
    _, env = ticket_keys(stack, workdir, collection, "read")
    out = run_node("sdk.mjs", "refusals", env)
    assert out["put"] == {"name": "AccessDenied", "status": 403}
    assert out["del"] == {"name": "AccessDenied", "status": 403}
    assert out["get"] is None
    assert not stack.exists(collection + "/up/nope.bin")
    assert stack.exists(collection + "/seed/big.bin")


def test_revoked_keys_refused(stack, workdir, collection):
    ticket, env = ticket_keys(stack, workdir, collection, "write")
    stack.revoke(ticket["id"])
    out = run_node("sdk.mjs", "refusals", env)
    # A revoked ticket's key pair is unknown to the gateway, as a deleted access key is on AWS.
    assert out == {name: {"name": "InvalidAccessKeyId", "status": 403} for name in ("put", "del", "get")}
    assert not stack.exists(collection + "/up/nope.bin")
