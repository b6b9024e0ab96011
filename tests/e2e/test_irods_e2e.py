"""End to end on the iRODS backend: the API and the gateway under gunicorn on a real iRODS zone, driven by boto3,
curl and python-irodsclient (marker ``irods``; needs TICKETBOOTH_TEST_IRODS_*, see docs/irods.md).

Write tickets (a small PUT and a multipart upload), uses counted by TicketBooth (iRODS's own count stays 0), a
PATCHed uses limit enforced at once, revocation through the API, a ticket deleted out of band with
python-irodsclient (gone from the API at once, its keys dead within ``s3.key_cache_ttl``), an anonymous link.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import botocore.config
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ticketbooth.api.auth import issue_dev_token
from ticketbooth.settings import load_settings

from .conftest import require_program
from .servers import API_APP, GATEWAY_APP, Server, free_port

pytestmark = [pytest.mark.irods, pytest.mark.clients]

_ENV = {name: os.environ.get(f"TICKETBOOTH_TEST_IRODS_{name}", "") for name in ("HOST", "PORT", "ZONE", "USER",
                                                                                  "PASSWORD")}
MiB = 1024 * 1024
KEY_CACHE_TTL = 1


def _irods(client_user: str | None = None):
    from irods.session import iRODSSession

    kwargs = {"host": _ENV["HOST"], "port": int(_ENV["PORT"]), "zone": _ENV["ZONE"], "user": _ENV["USER"],
              "password": _ENV["PASSWORD"]}
    if client_user:
        kwargs["client_user"] = client_user
    return iRODSSession(**kwargs)


class IrodsStack:
    def __init__(self, settings, api_url: str, gateway_url: str, root: str) -> None:
        self.settings, self.api_url, self.gateway_url, self.root = settings, api_url, gateway_url, root

    def api(self, method: str, path: str, *, user: str = "alice", **kw):
        token = issue_dev_token(self.settings, user, False, datetime.now(UTC), lifetime=3600)
        return requests.request(method, self.api_url + path, headers={"Authorization": f"Bearer {token}"},
                                timeout=60, **kw)

    def collection(self, name: str, files: dict[str, bytes] | None = None) -> str:
        path = f"{self.root}/{name}"
        with _irods("alice") as alice:
            alice.collections.create(path, recurse=True)
            for relative, data in (files or {}).items():
                alice.collections.create(os.path.dirname(f"{path}/{relative}"), recurse=True)
                with alice.data_objects.open(f"{path}/{relative}", "w") as handle:
                    handle.write(data)
        return path

    def create_ticket(self, path: str, **fields) -> dict:
        response = self.api("POST", "/v1/tickets", json={"path": path, **fields})
        assert response.status_code == 201, response.text
        return response.json()

    def s3(self, ticket: dict):
        keys = ticket["credentials"]
        return boto3.client("s3", endpoint_url=self.gateway_url, region_name="us-east-1",
                            aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
                            config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def row(self, ticket_id: int) -> dict:
        from irods.models import TicketQuery as TQ

        with _irods() as admin:
            return admin.query(*TQ.Ticket._columns).filter(TQ.Ticket.id == ticket_id).one()


@pytest.fixture(scope="module")
def irods_stack(tmp_path_factory) -> Iterator[IrodsStack]:
    if not all(_ENV.values()):
        pytest.skip("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD to run against a real iRODS zone")
    base = tmp_path_factory.mktemp("irods-stack")
    run = uuid.uuid4().hex[:8]
    root = f"/{_ENV['ZONE']}/home/alice/tb-e2e-{run}"
    state = f"/{_ENV['ZONE']}/home/{_ENV['USER']}/tb-e2e-{run}-state"
    ports = {name: free_port() for name in ("api", "gateway")}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    config = base / "ticketbooth.toml"
    config.write_text(
        f'backend = "irods"\ndata_dir = "{base / "data"}"\nlog_level = "WARNING"\n'
        f'[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n'
        f'[s3]\nendpoint_url = "{gateway_url}"\nregion = "us-east-1"\nmaster_key = "{secrets.token_hex(32)}"\n'
        f'key_cache_ttl = {KEY_CACHE_TTL}\nuse_window = 0\n'  # one use per request (the default: test_irods_use_window)
        f'[gateway]\nauthorize_secret = "{secrets.token_hex(24)}"\npublic_url = "{gateway_url}"\n'
        f'[irods]\nhost = "{_ENV["HOST"]}"\nport = {int(_ENV["PORT"])}\nzone = "{_ENV["ZONE"]}"\n'
        f'user = "{_ENV["USER"]}"\npassword = "{_ENV["PASSWORD"]}"\nservice_hosts = ["127.0.0.1"]\n'
        f'state_collection = "{state}"\n'
    )
    settings = load_settings(config, environ={})
    env = {"TICKETBOOTH_CONFIG": str(config)}
    servers = [Server(API_APP, ports["api"], env, base / "api.log"),
               Server(GATEWAY_APP, ports["gateway"], env, base / "gateway.log")]
    try:
        servers[0].wait_ready("/healthz")
        servers[1].wait_ready("/")
        yield IrodsStack(settings, servers[0].url, gateway_url, root)
    finally:
        for server in reversed(servers):
            server.stop()
        from irods.keywords import ADMIN_KW
        from irods.models import TicketQuery as TQ
        from irods.ticket import Ticket

        with _irods() as admin:
            for row in admin.query(TQ.Ticket.string, TQ.Owner.name).get_results():
                if row[TQ.Owner.name] == "alice":
                    Ticket(admin, row[TQ.Ticket.string]).delete(**{ADMIN_KW: ""})
            if admin.collections.exists(state):
                admin.collections.remove(state, recurse=True, force=True)
        with _irods("alice") as alice:
            if alice.collections.exists(root):
                alice.collections.remove(root, recurse=True, force=True)


def test_write_ticket_put_and_multipart_upload_land_in_irods(irods_stack, tmp_path):
    collection = irods_stack.collection("write", {"seed/hello.txt": b"hello\n"})
    ticket = irods_stack.create_ticket(collection, access="write")
    s3 = irods_stack.s3(ticket)
    bucket = ticket["s3"]["bucket"]
    payload = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="up/deep/put.bin", Body=payload)
    assert put["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="up/deep/put.bin")["Body"].read() == payload
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(11 * MiB))
    s3.upload_file(str(source), bucket, "up/big.bin",
                   Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2))
    with _irods("alice") as alice:
        stored = alice.data_objects.get(collection + "/up/big.bin")
        assert stored.size == 11 * MiB
        with alice.data_objects.open(collection + "/up/big.bin", "r") as handle:
            assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(source.read_bytes()).digest()
        # Written as the ticket's owner (deep, where a write ticket itself could not create), with its MD5.
        small = alice.data_objects.get(collection + "/up/deep/put.bin")
        assert small.owner_name == "alice" and small.checksum == hashlib.md5(payload).hexdigest()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["seed/hello.txt", "up/big.bin", "up/deep/put.bin"]


def test_uses_are_counted_by_ticketbooth_and_a_patched_limit_holds_at_once(irods_stack):
    collection = irods_stack.collection("uses", {"a.txt": b"a"})
    ticket = irods_stack.create_ticket(collection, uses_limit=2)
    s3 = irods_stack.s3(ticket)
    bucket = ticket["s3"]["bucket"]
    s3.head_object(Bucket=bucket, Key="a.txt")
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="a.txt")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    shown = irods_stack.api("GET", f"/v1/tickets/{ticket['id']}").json()
    assert shown["uses_count"] == 2
    row = irods_stack.row(ticket["id"])
    from irods.models import TicketQuery as TQ

    assert (row[TQ.Ticket.uses_limit], row[TQ.Ticket.uses_count]) == (0, 0)  # iRODS neither limits nor counts
    response = irods_stack.api("PATCH", f"/v1/tickets/{ticket['id']}", json={"uses_limit": 3})
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="a.txt")


def _refused_within(s3, bucket: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            s3.list_objects_v2(Bucket=bucket)
        except ClientError as err:
            return err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        time.sleep(0.2)
    return False


def test_revocation_and_an_out_of_band_delete_stop_the_keys(irods_stack):
    collection = irods_stack.collection("revoke", {"a.txt": b"a"})
    revoked, deleted = irods_stack.create_ticket(collection), irods_stack.create_ticket(collection)
    for ticket in (revoked, deleted):
        irods_stack.s3(ticket).list_objects_v2(Bucket=ticket["s3"]["bucket"])
    assert irods_stack.api("DELETE", f"/v1/tickets/{revoked['id']}").status_code == 204
    assert _refused_within(irods_stack.s3(revoked), revoked["s3"]["bucket"], KEY_CACHE_TTL + 5)
    from irods.keywords import ADMIN_KW
    from irods.ticket import Ticket

    with _irods() as admin:  # iticket delete, as an operator would
        Ticket(admin, deleted["ticket"]).delete(
            **{ADMIN_KW: ""})
    assert irods_stack.api("GET", f"/v1/tickets/{deleted['id']}").status_code == 404
    assert _refused_within(irods_stack.s3(deleted), deleted["s3"]["bucket"], KEY_CACHE_TTL + 5)


def test_anonymous_link_with_curl(irods_stack, tmp_path):
    curl = require_program("curl")
    payload = os.urandom(50_000)
    collection = irods_stack.collection("link", {"report.bin": payload})
    ticket = irods_stack.create_ticket(collection + "/report.bin", anonymous=True, expires_in=3600)
    result = subprocess.run([curl, "-fsS", ticket["links"]["public"]], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    ranged = subprocess.run([curl, "-fsS", "-r", "100-199", ticket["links"]["public"]], capture_output=True,
                            timeout=60)
    assert ranged.stdout == payload[100:200]
