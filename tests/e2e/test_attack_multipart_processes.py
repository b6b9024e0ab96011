"""Issue 9, item 3 under process concurrency: staged multipart bytes never overshoot a ticket's write budget
when UploadPart requests race across gunicorn worker processes (and their threads), sent by boto3.

The per-ticket check-and-reserve runs under an ``flock`` on a file in the spool, which serialises it across
processes; each round below sends more parts at once than the budget admits.
"""
from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.model import Access, Actor, TicketSpec
from ticketbooth.resolver import KeyResolver
from ticketbooth.settings import load_settings

from .servers import GATEWAY_APP, Server, free_port

pytestmark = pytest.mark.clients

PART = 10_000
LIMIT = 95_000  # nine parts fit, the tenth never


def test_concurrent_parts_across_worker_processes_never_overshoot(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    config = tmp_path / "ticketbooth.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[s3]\nendpoint_url = "http://127.0.0.1:{port}"\n'
                      f'key_cache_ttl = 0.0\n[embedded]\nusers = ["alice"]\n')
    settings = load_settings(config, environ={})
    backend = EmbeddedBackend.from_settings(settings)
    backend.put_object("/tempZone/home/alice/up/keep", b"")
    ticket = backend.create_ticket(Actor("alice"), TicketSpec(path="/tempZone/home/alice/up", access=Access.WRITE,
                                                              users=("alice",), write_byte_limit=LIMIT),
                                   now=datetime.now(UTC))
    akid, secret = KeyResolver(backend, backend.master_key(), ttl=0).mint(ticket, "alice")
    server = Server(GATEWAY_APP, port, {"TICKETBOOTH_CONFIG": str(config)}, tmp_path / "gateway.log", workers=3,
                    threads=4, args=("--log-level", "info"))
    try:
        server.wait_ready("/")
        s3 = boto3.client("s3", endpoint_url=server.url, aws_access_key_id=akid, aws_secret_access_key=secret,
                          region_name="us-east-1", config=botocore.config.Config(
                              retries={"max_attempts": 1}, max_pool_connections=32))
        bucket = f"ticket-{ticket.id}"
        uploads = [(f"k{i}", s3.create_multipart_upload(Bucket=bucket, Key=f"k{i}")["UploadId"]) for i in range(4)]
        barrier = threading.Barrier(24)

        def send(i: int) -> str:
            key, upload_id = uploads[i % 4]
            barrier.wait()
            try:
                s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1 + i // 4, Body=b"p" * PART)
                return "ok"
            except ClientError as err:
                return err.response["Error"]["Code"]

        with ThreadPoolExecutor(24) as pool:
            outcomes = list(pool.map(send, range(24)))
        spool = data_dir / ".spool" / str(ticket.id)
        staged = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(spool) for n in names
                     if n != "upload.json")
        assert set(outcomes) <= {"ok", "AccessDenied"}, outcomes
        assert outcomes.count("ok") == LIMIT // PART  # exactly as many as fit, whichever worker took them
        assert staged == outcomes.count("ok") * PART <= LIMIT
        pids = set(re.findall(r"Booting worker with pid: (\d+)", server.log_path.read_text()))
        assert len(pids) == 3  # three worker processes served the race
    finally:
        server.stop()
        backend.close()
