"""The AWS CLI, rclone, s3cmd, curl --aws-sigv4 and minio-py against the running gateway, each configured only
from the API's ``credentials?format=`` output, on both backends. Downloads must be byte-identical to uploads."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import BOTH, ClientFiles, file_sha256, require_program, sha256

pytestmark = pytest.mark.clients
BACKENDS = BOTH


def run(command: list[str], env: dict[str, str], cwd: Path | None = None, check: bool = True):
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{command[0]} failed ({result.returncode}): {result.stdout[-1500:]}"
                             f"{result.stderr[-1500:]}")
    return result


def make_tree(root: Path) -> dict[str, str]:
    """A few small files (one with a space and one nested) and their sha256 by relative name."""
    contents = {"a.txt": b"alpha\n", "dir one/b.bin": os.urandom(70_000), "dir one/deep/c.dat": os.urandom(1234)}
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return {name: sha256(data) for name, data in contents.items()}


def tree_hashes(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): file_sha256(path) for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def ticket(stack, request):
    return stack.create_ticket(stack.collection(f"cli-{request.node.name}"), access="write")


def test_aws_cli_ls_cp_sync(stack, workdir, ticket):
    aws = require_program("aws")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env = files.aws()
    source = workdir / "src"
    expected = make_tree(source)
    bucket = f"s3://{files.bucket}"
    run([aws, "s3", "cp", str(source / "a.txt"), f"{bucket}/single/a.txt"], env)
    run([aws, "s3", "sync", str(source), f"{bucket}/synced"], env)
    listing = run([aws, "s3", "ls", "--recursive", bucket], env).stdout
    for name in ["single/a.txt", "synced/a.txt", "synced/dir one/b.bin", "synced/dir one/deep/c.dat"]:
        assert name in listing
    run([aws, "s3", "cp", f"{bucket}/single/a.txt", str(workdir / "a.back")], env)
    assert file_sha256(workdir / "a.back") == expected["a.txt"]
    run([aws, "s3", "sync", f"{bucket}/synced", str(workdir / "down")], env)
    assert tree_hashes(workdir / "down") == expected
    # A second sync has nothing to do: sizes and times from ListObjects match.
    assert run([aws, "s3", "sync", str(source), f"{bucket}/synced"], env).stdout.strip() == ""


def test_rclone_lsf_copy_check(stack, workdir, ticket):
    rclone = require_program("rclone")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env = files.rclone()
    remote = f"{files.profile}:{files.bucket}/rc"
    source = workdir / "src"
    expected = make_tree(source)
    run([rclone, "copy", str(source), remote], env)
    listed = run([rclone, "lsf", "-R", "--files-only", remote], env).stdout.split("\n")
    assert sorted(filter(None, listed)) == sorted(expected)
    run([rclone, "check", str(source), remote], env)  # compares sizes and MD5 (ETag) of every file
    run([rclone, "copy", remote, str(workdir / "down")], env)
    assert tree_hashes(workdir / "down") == expected


def test_s3cmd_ls_put_get(stack, workdir, ticket):
    s3cmd = require_program("s3cmd")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    config = files.s3cmd()
    env = files.env
    payload = os.urandom(300_000)
    (workdir / "up.bin").write_bytes(payload)
    base = [s3cmd, "-c", str(config), "--no-progress"]
    run(base + ["put", str(workdir / "up.bin"), f"s3://{files.bucket}/s3cmd/up.bin"], env)
    listing = run(base + ["ls", f"s3://{files.bucket}/s3cmd/"], env).stdout
    assert f"s3://{files.bucket}/s3cmd/up.bin" in listing and "300000" in listing
    run(base + ["get", f"s3://{files.bucket}/s3cmd/up.bin", str(workdir / "down.bin")], env)
    assert file_sha256(workdir / "down.bin") == sha256(payload)


def test_curl_aws_sigv4(stack, workdir, ticket):
    require_program("curl")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env_file = files.shell_env()
    payload = os.urandom(40_000)
    (workdir / "up.bin").write_bytes(payload)
    # curl 7.88 signs but does not send x-amz-content-sha256, which S3 requires with SigV4: send it (curl then
    # signs with that value as the payload hash). UNSIGNED-PAYLOAD keeps uploads streaming.
    script = (
        'set -eu; . "$1"; url="$AWS_ENDPOINT_URL_S3/$TICKETBOOTH_BUCKET/curl/up.bin"; '
        'auth() { curl -fsS --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '
        '-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }; '
        'auth -T "$2" "$url"; auth -o "$3" "$url"; auth -r 10-19 -o "$4" "$url"'
    )
    run(["bash", "-c", script, "curl", str(env_file), str(workdir / "up.bin"), str(workdir / "down.bin"),
         str(workdir / "part.bin")], files.env)
    assert file_sha256(workdir / "down.bin") == sha256(payload)
    assert (workdir / "part.bin").read_bytes() == payload[10:20]


def test_minio_put_get_presign(stack, workdir, ticket):
    import urllib3
    from minio import Minio

    creds = ClientFiles(stack, workdir / "cfg", ticket["id"]).json()
    endpoint = creds["endpoint_url"].split("://", 1)[1]
    client = Minio(endpoint, access_key=creds["access_key_id"], secret_key=creds["secret_access_key"],
                   region=creds["region"], secure=creds["endpoint_url"].startswith("https"))
    payload = os.urandom(123_456)
    (workdir / "up.bin").write_bytes(payload)
    client.fput_object(creds["bucket"], "minio/up.bin", str(workdir / "up.bin"))
    response = client.get_object(creds["bucket"], "minio/up.bin")
    try:
        assert sha256(response.read()) == sha256(payload)
    finally:
        response.close()
        response.release_conn()
    assert [o.object_name for o in client.list_objects(creds["bucket"], prefix="minio/")] == ["minio/up.bin"]
    url = client.presigned_get_object(creds["bucket"], "minio/up.bin")
    fetched = urllib3.PoolManager().request("GET", url)
    assert fetched.status == 200 and fetched.data == payload


def test_curl_aws_sigv4_as_debian_ships_it(stack, workdir, ticket):
    """curl 7.88 without any extra header (issue 8 item 4): GET, range, listing and a --data-binary PUT verify
    with the body's hash as the payload hash; -T (which signs the empty hash) is refused and stores nothing."""
    require_program("curl")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env_file = files.shell_env()
    payload = os.urandom(30_000)
    (workdir / "up.bin").write_bytes(payload)
    script = (
        'set -eu; . "$1"; base="$AWS_ENDPOINT_URL_S3/$TICKETBOOTH_BUCKET"; '
        'auth() { curl -sS --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '
        '"$@"; }; '
        'auth -f -X PUT --data-binary @"$2" "$base/curl%20plain/up.bin"; '
        'auth -f -o "$3" "$base/curl%20plain/up.bin"; '
        'auth -f -r 100-199 -o "$4" "$base/curl%20plain/up.bin"; '
        'auth -f -o "$5" "$base?list-type=2&prefix=curl%20plain%2F"; '
        'auth -o /dev/null -w "%{http_code}" -T "$2" "$base/curl%20plain/streamed.bin" > "$6"'
    )
    outputs = [workdir / name for name in ("down.bin", "part.bin", "list.xml", "status.txt")]
    run(["bash", "-c", script, "curl", str(env_file), str(workdir / "up.bin"), *map(str, outputs)], files.env)
    assert file_sha256(outputs[0]) == sha256(payload)
    assert outputs[1].read_bytes() == payload[100:200]
    assert "<Key>curl plain/up.bin</Key>" in outputs[2].read_text()
    assert "streamed.bin" not in outputs[2].read_text()
    assert outputs[3].read_text() == "403"
    listing = run(["bash", "-c", script.split("; 'auth -f -X PUT")[0] + '; auth -f "$base?list-type=2"',
                   "curl", str(env_file)], files.env, check=False)
    assert "streamed.bin" not in listing.stdout


def test_s3cmd_signature_v2_bucket_requests(stack, workdir, ticket):
    """s3cmd with signature_v2 (issue 8 item 4): ListObjects, GetBucketLocation (s3cmd info), put and get."""
    s3cmd = require_program("s3cmd")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    config = files.s3cmd()
    config.write_text(config.read_text() + "\nsignature_v2 = True\n")
    payload = os.urandom(50_000)
    (workdir / "up.bin").write_bytes(payload)
    base = [s3cmd, "-c", str(config), "--no-progress", "-d"]
    run(base + ["put", str(workdir / "up.bin"), f"s3://{files.bucket}/v2 dir/up.bin"], files.env)
    listing = run(base + ["ls", f"s3://{files.bucket}/v2 dir/"], files.env)
    assert f"s3://{files.bucket}/v2 dir/up.bin" in listing.stdout
    assert "AWS4-HMAC-SHA256" not in listing.stderr and "Authorization: AWS " in listing.stderr.replace("'", "")
    run(base + ["get", f"s3://{files.bucket}/v2 dir/up.bin", str(workdir / "down.bin")], files.env)
    assert file_sha256(workdir / "down.bin") == sha256(payload)


def test_boto3_sigv2_head_and_list_bucket(stack, workdir, ticket):
    import boto3
    from botocore.config import Config

    creds = ClientFiles(stack, workdir / "cfg", ticket["id"]).json()
    client = boto3.session.Session().client(
        "s3", endpoint_url=creds["endpoint_url"], region_name=creds["region"],
        aws_access_key_id=creds["access_key_id"], aws_secret_access_key=creds["secret_access_key"],
        config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    client.put_object(Bucket=creds["bucket"], Key="v2/a b+c~d.txt", Body=b"v2 body")
    assert client.head_bucket(Bucket=creds["bucket"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = client.list_objects(Bucket=creds["bucket"], Prefix="v2/")
    assert [o["Key"] for o in listed["Contents"]] == ["v2/a b+c~d.txt"]
    assert client.get_bucket_location(Bucket=creds["bucket"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    url = client.generate_presigned_url("list_objects", Params={"Bucket": creds["bucket"], "Prefix": "v2/"})
    import re
    from urllib.parse import unquote

    import requests

    answer = requests.get(url, timeout=30)  # botocore asks for encoding-type=url
    assert answer.status_code == 200
    assert [unquote(k) for k in re.findall(r"<Key>([^<]*)</Key>", answer.text)] == ["v2/a b+c~d.txt"]
