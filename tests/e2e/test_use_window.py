"""boto3's ``download_file`` of a 64 MiB object (a HEAD and eight ranged GETs, on ten threads) through a ticket
with ``uses_limit=4``: one use with ``s3.use_window`` (60 s, and the shipped default) on gunicorn gateways sharing
the stack's catalogue; without the window (the stack's own gateway) the same download runs out of uses."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ticketbooth.settings import S3Settings

from .conftest import file_sha256, sha256
from .servers import GATEWAY_APP, Server, free_port

pytestmark = pytest.mark.clients

MiB = 1024 * 1024


@contextlib.contextmanager
def gateway_with_window(config: Path, window: float, log: Path, *, workers: int = 1) -> Iterator[str]:
    """A gunicorn gateway on ``config`` with ``s3.use_window`` = ``window``; yields its URL."""
    server = Server(GATEWAY_APP, free_port(), {"TICKETBOOTH_CONFIG": str(config),
                                               "TICKETBOOTH_S3__USE_WINDOW": str(window)}, log, workers=workers)
    try:
        server.wait_ready("/")
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def windowed_gateway(stack, tmp_path_factory):
    """A second gateway on the stack's configuration and data, with a 60 s use window."""
    with gateway_with_window(stack.config_file, 60, tmp_path_factory.mktemp("window") / "gateway.log") as url:
        yield url


@pytest.fixture(scope="module")
def default_gateway(stack, tmp_path_factory):
    """A gateway on the stack's data with the default use window (the stack pins 0 for its counting tests)."""
    log = tmp_path_factory.mktemp("default-window") / "gateway.log"
    with gateway_with_window(stack.config_file, S3Settings().use_window, log) as url:
        yield url


@pytest.fixture
def big_object(stack, request):
    data = os.urandom(64 * MiB)
    collection = stack.collection(f"window-{request.node.name}"[:60])
    stack.seed(collection + "/big.bin", data)
    return collection, sha256(data)


def _client(stack, ticket, endpoint):
    creds = stack.api("GET", f"/v1/tickets/{ticket['id']}/credentials").json()
    return boto3.client("s3", endpoint_url=endpoint, region_name=creds["region"],
                        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
                        config=botocore.config.Config(s3={"addressing_style": "path"}))


def test_download_file_of_64_mib_is_one_use(stack, windowed_gateway, big_object, workdir):
    collection, digest = big_object
    ticket = stack.create_ticket(collection, uses_limit=4)
    s3 = _client(stack, ticket, windowed_gateway)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=10)
    s3.download_file(ticket["s3"]["bucket"], "big.bin", str(workdir / "big.bin"), Config=config)
    assert file_sha256(workdir / "big.bin") == digest
    assert stack.uses(ticket["id"]) == 1


def test_with_the_default_window_download_file_is_one_use(stack, default_gateway, big_object, workdir):
    collection, digest = big_object
    ticket = stack.create_ticket(collection, uses_limit=4)
    s3 = _client(stack, ticket, default_gateway)
    s3.download_file(ticket["s3"]["bucket"], "big.bin", str(workdir / "big.bin"))  # boto3's own transfer defaults
    assert file_sha256(workdir / "big.bin") == digest
    assert stack.uses(ticket["id"]) == 1


def test_without_the_window_the_same_download_runs_out_of_uses(stack, big_object, workdir):
    collection, _ = big_object
    ticket = stack.create_ticket(collection, uses_limit=4)
    s3 = _client(stack, ticket, stack.gateway_url)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=10)
    with pytest.raises(ClientError):
        s3.download_file(ticket["s3"]["bucket"], "big.bin", str(workdir / "big.bin"), Config=config)
    assert stack.uses(ticket["id"]) == 4
