"""The nginx configuration of docs/nginx.md, run for real: nginx auth_request -> POST /v1/authorize (under
gunicorn) -> files served from the embedded data directory. Skipped when nginx is not installed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import ClientFiles
from .servers import free_port

pytestmark = pytest.mark.clients

DOC = Path(__file__).resolve().parents[2] / "docs" / "nginx.md"


def _doc_config() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- nginx-config[^>]*-->\s*```nginx\n(.*?)```", text, re.S)
    assert match, "docs/nginx.md lost its marked nginx block"
    return match.group(1)


@pytest.fixture(scope="module")
def nginx(stack, tmp_path_factory):
    program = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if program is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    base = tmp_path_factory.mktemp("nginx")
    port = free_port()
    socket_path = base / "files.sock"
    api_port = stack.api_url.rsplit(":", 1)[1]
    site = (_doc_config()
            .replace("127.0.0.1:8080", f"127.0.0.1:{api_port}")
            .replace("listen 127.0.0.1:9100", f"listen 127.0.0.1:{port}")
            .replace("CHANGE-ME-gateway-secret", stack.settings.gateway.authorize_secret)
            .replace("/var/lib/ticketbooth/data/zone/", f"{stack.data_dir / 'zone'}/")
            .replace("/run/ticketbooth-files.sock", str(socket_path)))
    (base / "site.conf").write_text(site)
    temp = {name: base / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (base / "nginx.conf").write_text(
        # pytest's temporary directories are private to their user: workers must run as that user (root here).
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {base / 'nginx.pid'};\nerror_log {base / 'error.log'} warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n  access_log off;\n"
        + "".join(f"  {name}_temp_path {path};\n" for name, path in
                  (("client_body", temp["body"]), ("proxy", temp["proxy"]), ("fastcgi", temp["fastcgi"]),
                   ("uwsgi", temp["uwsgi"]), ("scgi", temp["scgi"])))
        + f"  include {base / 'site.conf'};\n}}\n"
    )
    log = base / "stderr.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([program, "-c", str(base / "nginx.conf"), "-p", str(base)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            pytest.fail(f"nginx exited: {log.read_text(errors='replace')}")
        try:
            requests.get(url + "/", timeout=1)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def _client(creds: dict, endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=creds["access_key_id"],
                        aws_secret_access_key=creds["secret_access_key"], region_name=creds["region"],
                        config=botocore.config.Config(s3={"addressing_style": "path"},
                                                      retries={"max_attempts": 1, "mode": "standard"}))


def test_signed_get_range_and_head_through_nginx(stack, nginx, workdir):
    collection = stack.collection("nginx-signed")
    stack.seed(collection + "/dir/a b.txt", b"0123456789" * 1000)
    ticket = stack.create_ticket(collection)
    creds = ClientFiles(stack, workdir, ticket["id"]).json()
    s3 = _client(creds, nginx)
    body = s3.get_object(Bucket=creds["bucket"], Key="dir/a b.txt")["Body"].read()
    assert body == b"0123456789" * 1000
    ranged = s3.get_object(Bucket=creds["bucket"], Key="dir/a b.txt", Range="bytes=5-14")
    assert ranged["Body"].read() == b"5678901234"
    assert s3.head_object(Bucket=creds["bucket"], Key="dir/a b.txt")["ContentLength"] == 10000
    assert stack.uses(ticket["id"]) == 3  # one granted decision, one use


def test_presigned_url_through_nginx(stack, nginx, workdir):
    collection = stack.collection("nginx-presigned")
    stack.seed(collection + "/p.bin", b"presigned")
    ticket = stack.create_ticket(collection)
    creds = ClientFiles(stack, workdir, ticket["id"]).json()
    url = _client(creds, nginx).generate_presigned_url("get_object", Params={"Bucket": creds["bucket"],
                                                                             "Key": "p.bin"}, ExpiresIn=60)
    assert requests.get(url, timeout=30).content == b"presigned"
    stack.revoke(ticket["id"])
    refused = requests.get(url, timeout=30)
    assert refused.status_code == 403
    assert ET.fromstring(refused.content).findtext("Code") == "InvalidAccessKeyId"


def test_refusals_carry_the_s3_error_and_status(stack, nginx, workdir):
    collection = stack.collection("nginx-refusals")
    stack.seed(collection + "/only.txt", b"x")
    ticket = stack.create_ticket(collection + "/only.txt")
    creds = ClientFiles(stack, workdir, ticket["id"]).json()
    s3 = _client(creds, nginx)
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=creds["bucket"], Key="other.txt")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert info.value.response["Error"]["Code"] == "NoSuchKey"
    forged = _client({**creds, "secret_access_key": "x" * 40}, nginx)
    with pytest.raises(ClientError) as info:
        forged.get_object(Bucket=creds["bucket"], Key="only.txt")
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unsigned = requests.get(f"{nginx}/{creds['bucket']}/only.txt", timeout=30)
    assert unsigned.status_code == 403 and b"only" not in unsigned.content and unsigned.content != b"x"
    assert requests.put(f"{nginx}/{creds['bucket']}/only.txt", data=b"y", timeout=30).status_code == 403
    assert stack.disk(collection + "/only.txt").read_bytes() == b"x"
    assert stack.uses(ticket["id"]) == 0
