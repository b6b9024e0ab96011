"""The use window on the iRODS backend with real clients (marker ``irods``): boto3's ``download_file`` of a 64 MiB
object (a HEAD and eight ranged GETs on ten threads, so several connections and a gateway with two workers)
through a ``uses_limit=4`` ticket is one use with the shipped default ``s3.use_window``, as on the embedded
backend (test_use_window.py); the stack's own gateway (window 0) runs out of uses on the same download."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import botocore.config
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ticketbooth.settings import S3Settings

from .stacks import IrodsStack
from .test_use_window import gateway_with_window

pytestmark = [pytest.mark.irods, pytest.mark.clients]

MiB = 1024 * 1024
CONFIG = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=10)


@pytest.fixture(scope="module")
def default_gateway(irods_stack, tmp_path_factory):
    """A second gateway (two workers) on the stack's configuration with the default use window."""
    log = tmp_path_factory.mktemp("irods-window") / "gateway.log"
    with gateway_with_window(irods_stack.config_file, S3Settings().use_window, log, workers=2) as url:
        yield url


@pytest.fixture(scope="module")
def big(irods_stack):
    data = os.urandom(64 * MiB)
    collection = irods_stack.collection("window")
    irods_stack.seed(collection + "/big.bin", data)
    return collection, hashlib.sha256(data).hexdigest()


def _download(stack: IrodsStack, ticket: dict, endpoint: str, target: Path) -> None:
    keys = ticket["credentials"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=keys["access_key_id"],
                      aws_secret_access_key=keys["secret_access_key"],
                      config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    s3.download_file(ticket["s3"]["bucket"], "big.bin", str(target), Config=CONFIG)


def test_download_file_of_64_mib_is_one_use_with_the_default_window(irods_stack, default_gateway, big, tmp_path):
    collection, digest = big
    ticket = irods_stack.create_ticket(collection, uses_limit=4)
    _download(irods_stack, ticket, default_gateway, tmp_path / "big.bin")
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == digest
    assert irods_stack.api("GET", f"/v1/tickets/{ticket['id']}").json()["uses_count"] == 1


def test_without_the_window_the_same_download_runs_out_of_uses(irods_stack, big, tmp_path):
    collection, _ = big
    ticket = irods_stack.create_ticket(collection, uses_limit=4)
    with pytest.raises(ClientError):
        _download(irods_stack, ticket, irods_stack.gateway_url, tmp_path / "big.bin")
    shown = irods_stack.api("GET", f"/v1/tickets/{ticket['id']}")
    assert shown.json()["uses_count"] == 4, shown.text
