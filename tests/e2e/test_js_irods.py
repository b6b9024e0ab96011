"""The JS clients (AWS SDK v3, lib-storage, minio-js) against the gateway on the real iRODS backend: the same
scripts and judgements as test_js_sdk.py / test_js_minio.py, with what the gateway stored read back through
python-irodsclient as the ticket's owner (marker ``irods``)."""
from __future__ import annotations

import hashlib

import pytest

from .js_clients import run_node
from .test_irods_e2e import _irods, irods_stack  # noqa: F401 - the module-scoped iRODS API + gateway
from .test_js_sdk import SEED, assert_read_write

pytestmark = [pytest.mark.irods, pytest.mark.clients]


def _env(stack, ticket: dict) -> dict[str, str]:
    keys = ticket["credentials"]
    return {"AWS_ACCESS_KEY_ID": keys["access_key_id"], "AWS_SECRET_ACCESS_KEY": keys["secret_access_key"],
            "AWS_ENDPOINT_URL_S3": stack.gateway_url, "AWS_REGION": "us-east-1",
            "TICKETBOOTH_BUCKET": ticket["s3"]["bucket"]}


def _stored(collection: str, key: str) -> bytes | None:
    with _irods("alice") as alice:
        path = f"{collection}/{key}"
        if not alice.data_objects.exists(path):
            return None
        with alice.data_objects.open(path, "r") as handle:
            return handle.read()


@pytest.fixture
def write_env(irods_stack, request):  # noqa: F811 - the fixture imported above
    collection = irods_stack.collection(f"js-{request.node.name}", SEED)
    ticket = irods_stack.create_ticket(collection, access="write")
    return collection, _env(irods_stack, ticket)


def test_sdk_read_write(write_env):
    collection, env = write_env
    assert_read_write(run_node("sdk.mjs", "readWrite", env), env["TICKETBOOTH_BUCKET"],
                      lambda key: _stored(collection, key), seeded_etag=False)


def test_sdk_multipart_and_presigned(write_env):
    collection, env = write_env
    out = run_node("sdk.mjs", "multipart", env)
    assert out["sha"] == out["expected"] == out["streamSha"] and out["parts"] == [1, 2, 3]
    assert out["etag"].endswith('-3"')
    assert hashlib.sha256(_stored(collection, "multi/twelve.bin") or b"").hexdigest() == out["expected"]
    presigned = run_node("sdk.mjs", "presigned", env)
    assert presigned["getStatus"] == 200 and presigned["getSha"] == hashlib.sha256(SEED["seed/big.bin"]).hexdigest()
    assert presigned["putStatus"] == 200 and presigned["putSha"] == presigned["expected"]
    assert presigned["tampered"] == 403


def test_sdk_read_ticket_refuses_writes(irods_stack):  # noqa: F811
    collection = irods_stack.collection("js-read", SEED)
    ticket = irods_stack.create_ticket(collection, access="read")
    out = run_node("sdk.mjs", "refusals", _env(irods_stack, ticket))
    assert out["put"] == out["del"] == {"name": "AccessDenied", "status": 403}
    assert out["get"] is None
    assert _stored(collection, "up/nope.bin") is None and _stored(collection, "seed/big.bin") is not None


def test_minio_read_write(irods_stack):  # noqa: F811
    collection = irods_stack.collection("js-minio", {"seed/big.bin": SEED["seed/big.bin"],
                                                     "seed/sub/small.txt": b"small\n"})
    ticket = irods_stack.create_ticket(collection, access="write")
    out = run_node("minio.mjs", "readWrite", _env(irods_stack, ticket))
    big = hashlib.sha256(SEED["seed/big.bin"]).hexdigest()
    assert out["listed"] == [["seed/big.bin", len(SEED["seed/big.bin"])], ["seed/sub/small.txt", 6]]
    assert out["get"] == out["fGet"] == out["presigned"]["sha"] == big
    assert out["putStream"]["sha"] == out["putStream"]["expected"]
    assert out["multipart"]["sha"] == out["fPut"]["sha"] == out["multipart"]["expected"]
    assert hashlib.sha256(_stored(collection, "multi/file.bin") or b"").hexdigest() == out["multipart"]["expected"]
    assert out["stat"]["meta"]["colour"] == "blue"
    assert _stored(collection, "up/copy.bin") is None and _stored(collection, "up/stream.bin") is None
