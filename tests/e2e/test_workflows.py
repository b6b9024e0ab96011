"""Workflows people run with real clients (issue 8): rclone copy/sync with its modification-time metadata and
server-side copies, aws s3 mv/sync/cp between keys, boto3 metadata and copy_object, folders with pyarrow and
s3fs. Every client is configured only from the API's ``credentials?format=`` output; every test runs on both
backends. On iRODS the metadata must be AVUs on the data object (``s3.*``, docs/irods.md) and copies server-side
copies: the gateway's data path (``open_read``/``write`` of its backend) is not used for them."""
from __future__ import annotations

import json
import os
import time

import boto3
import pyarrow.fs
import pytest
import s3fs
from botocore.exceptions import ClientError

from .conftest import BOTH, ClientFiles, file_sha256, require_program, sha256
from .test_cli_clients import make_tree, run, tree_hashes

pytestmark = pytest.mark.clients
BACKENDS = BOTH


@pytest.fixture
def ticket(stack, request):
    return stack.create_ticket(stack.collection(f"wf-{request.node.name}"[:60]), access="write")


@pytest.fixture
def make_boto3(monkeypatch):
    """``make_boto3(files)``: a boto3 S3 client from the aws format; closed (its sockets too) after the test."""
    clients = []

    def make(files: ClientFiles):
        for name, value in files.aws().items():
            monkeypatch.setenv(name, value)
        clients.append(boto3.Session().client("s3"))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def _avus(stack, path: str) -> dict[str, str]:
    """The object's ``s3.*`` AVUs but its layout (``s3.layout``: ETag, parts; not metadata)."""
    return {name: value for name, value in stack.avus(path).items() if name != "s3.layout"}


def _clean(output: str) -> None:
    assert "ERROR" not in output, output[-3000:]


def test_rclone_copy_twice_then_sync_after_touching_a_file(stack, workdir, ticket, make_boto3):
    rclone = require_program("rclone")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env = files.rclone()
    remote = f"{files.profile}:{files.bucket}/rc"
    source = workdir / "src"
    expected = make_tree(source)
    for _ in range(2):  # the second run found "Failed to set modification time: NotImplemented (CopyObject)"
        result = run([rclone, "copy", "-v", str(source), remote], env)
        _clean(result.stdout + result.stderr)
    # rclone stored each file's mtime as X-Amz-Meta-Mtime.
    s3 = make_boto3(files)
    head = s3.head_object(Bucket=files.bucket, Key="rc/a.txt")
    assert abs(float(head["Metadata"]["mtime"]) - (source / "a.txt").stat().st_mtime) < 1
    touched = time.time() - 3600
    os.utime(source / "a.txt", (touched, touched))
    with stack.calls() as calls:
        result = run([rclone, "sync", "-v", str(source), remote], env)
    _clean(result.stdout + result.stderr)
    # Same content, new time: rclone repaired the metadata with a server-side copy instead of uploading again.
    assert calls.get("session.copy") == 1 and "session.write" not in calls, calls
    head = s3.head_object(Bucket=files.bucket, Key="rc/a.txt")
    assert abs(float(head["Metadata"]["mtime"]) - touched) < 1
    assert s3.get_object(Bucket=files.bucket, Key="rc/a.txt")["Body"].read() == b"alpha\n"
    run([rclone, "check", str(source), remote], env)
    listed = run([rclone, "lsl", remote, "--include", "a.txt"], env).stdout
    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(touched)) in listed
    run([rclone, "copy", remote, str(workdir / "down")], env)
    assert tree_hashes(workdir / "down") == expected


def test_aws_s3_mv_cp_and_sync_between_keys(stack, workdir, ticket):
    aws = require_program("aws")
    files = ClientFiles(stack, workdir / "cfg", ticket["id"])
    env = files.aws()
    bucket = f"s3://{files.bucket}"
    source = workdir / "src"
    expected = make_tree(source)
    run([aws, "s3", "sync", str(source), f"{bucket}/one"], env)
    run([aws, "s3", "cp", f"{bucket}/one/a.txt", f"{bucket}/copied/a.txt"], env)
    run([aws, "s3", "mv", f"{bucket}/one/a.txt", f"{bucket}/moved/a.txt"], env)
    with stack.calls() as calls:
        run([aws, "s3", "sync", f"{bucket}/one", f"{bucket}/two"], env)  # server-side copies
        run([aws, "s3", "mv", "--recursive", f"{bucket}/two", f"{bucket}/three"], env)
    # 2 + 2 copies, and not a byte through the gateway (on iRODS: data object copies inside the zone).
    assert calls.get("session.copy") == 4 and not {"session.open_read", "session.write"} & set(calls), calls
    listing = run([aws, "s3", "ls", "--recursive", bucket], env).stdout
    keys = sorted(line.split(None, 3)[3] for line in listing.splitlines() if line.strip())
    assert keys == sorted(["copied/a.txt", "moved/a.txt", "one/dir one/b.bin", "one/dir one/deep/c.dat",
                           "three/dir one/b.bin", "three/dir one/deep/c.dat"])
    run([aws, "s3", "sync", f"{bucket}/three", str(workdir / "down")], env)
    assert tree_hashes(workdir / "down") == {k: v for k, v in expected.items() if k != "a.txt"}
    run([aws, "s3", "cp", f"{bucket}/moved/a.txt", str(workdir / "a.back")], env)
    assert file_sha256(workdir / "a.back") == expected["a.txt"]
    # Nothing of "two" is left: no phantom prefix after the move emptied it.
    top = run([aws, "s3", "ls", f"{bucket}/"], env).stdout
    assert "two/" not in top and "three/" in top
    assert not stack.exists(ticket["path"] + "/two")


def test_boto3_metadata_round_trip_and_copy_object(stack, workdir, ticket, make_boto3):
    files = ClientFiles(stack, workdir, ticket["id"])
    s3 = make_boto3(files)
    bucket = files.bucket
    s3.put_object(Bucket=bucket, Key="m/data.csv", Body=b"a,b\n1,2\n", ContentType="text/csv",
                  CacheControl="max-age=60", ContentDisposition='attachment; filename="d.csv"',
                  ContentLanguage="en", Metadata={"project": "lab42", "Mtime": "1700000000"})
    head = s3.head_object(Bucket=bucket, Key="m/data.csv")
    assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"], head["ContentLanguage"]) == (
        "text/csv", "max-age=60", 'attachment; filename="d.csv"', "en")
    assert head["Metadata"] == {"project": "lab42", "mtime": "1700000000"}
    data_csv = ticket["path"] + "/m/data.csv"
    if stack.backend == "irods":  # iRODS metadata, as imeta ls -d shows it; and set in iRODS, seen over S3
        assert _avus(stack, data_csv) == {
            "s3.content-type": "text/csv", "s3.cache-control": "max-age=60",
            "s3.content-disposition": 'attachment; filename="d.csv"', "s3.content-language": "en",
            "s3.meta.project": "lab42", "s3.meta.mtime": "1700000000"}
        stack.set_avu(data_csv, "s3.meta.origin", "imeta")
        assert s3.head_object(Bucket=bucket, Key="m/data.csv")["Metadata"]["origin"] == "imeta"
        stack.remove_avu(data_csv, "s3.meta.origin", "imeta")
    got = s3.get_object(Bucket=bucket, Key="m/data.csv", ResponseContentType="text/plain")
    assert got["ContentType"] == "text/plain" and got["Metadata"]["project"] == "lab42"
    assert got["Body"].read() == b"a,b\n1,2\n"  # read to the end: the connection goes back to the pool

    with stack.calls() as calls:
        copied = s3.copy_object(Bucket=bucket, Key="m/copy.csv",
                                CopySource={"Bucket": bucket, "Key": "m/data.csv"})
    # A copy in the backend (on iRODS DATA_OBJ_COPY inside the zone), not a read and a write through the gateway.
    assert calls.get("session.copy") == 1 and not {"session.open_read", "session.write"} & set(calls), calls
    assert copied["CopyObjectResult"]["ETag"] == head["ETag"]
    head2 = s3.head_object(Bucket=bucket, Key="m/copy.csv")
    assert (head2["ContentType"], head2["Metadata"]) == ("text/csv", head["Metadata"])  # COPY: the source's
    assert stack.read(ticket["path"] + "/m/copy.csv") == b"a,b\n1,2\n"

    with stack.calls() as calls:
        s3.copy_object(Bucket=bucket, Key="m/replaced.csv", CopySource=f"{bucket}/m/data.csv",
                       MetadataDirective="REPLACE", ContentType="application/x-csv", Metadata={"new": "1"})
    assert calls.get("session.copy") == 1 and not {"session.open_read", "session.write"} & set(calls), calls
    head3 = s3.head_object(Bucket=bucket, Key="m/replaced.csv")
    assert (head3["ContentType"], head3["Metadata"]) == ("application/x-csv", {"new": "1"})
    assert s3.get_object(Bucket=bucket, Key="m/replaced.csv")["Body"].read() == b"a,b\n1,2\n"
    if stack.backend == "irods":
        assert _avus(stack, ticket["path"] + "/m/copy.csv") == _avus(stack, data_csv)
        assert _avus(stack, ticket["path"] + "/m/replaced.csv") == {"s3.content-type": "application/x-csv",
                                                                    "s3.meta.new": "1"}
        copy = stack.data_object(ticket["path"] + "/m/copy.csv")
        assert (copy.owner_name, copy.size) == (stack.owner, 8)  # its own data object, the owner's

    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="m/copy.csv", CopySource={"Bucket": bucket, "Key": "m/data.csv"},
                       CopySourceIfNoneMatch=head["ETag"])
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="m/big", Body=b"x", Metadata={"k": "v" * 2100})
    assert info.value.response["Error"]["Code"] == "MetadataTooLarge"

    # Multipart: CreateMultipartUpload's metadata is the completed object's; a part copied from an object.
    big = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="m/big.bin", Body=big)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m/joined.bin", Metadata={"joined": "yes"})
    part1 = s3.upload_part_copy(Bucket=bucket, Key="m/joined.bin", UploadId=upload["UploadId"], PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "m/big.bin"},
                                CopySourceRange=f"bytes=0-{5 * 1024 * 1024 - 1}")
    part2 = s3.upload_part(Bucket=bucket, Key="m/joined.bin", UploadId=upload["UploadId"], PartNumber=2,
                           Body=b"tail")
    s3.complete_multipart_upload(Bucket=bucket, Key="m/joined.bin", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": part2["ETag"]}]})
    joined = s3.get_object(Bucket=bucket, Key="m/joined.bin")
    assert sha256(joined["Body"].read()) == sha256(big[:5 * 1024 * 1024] + b"tail")
    assert joined["Metadata"] == {"joined": "yes"}


def test_folders_with_pyarrow(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    fs = pyarrow.fs.S3FileSystem(**json.loads(stack.credentials(ticket["id"], "pyarrow")))
    fs.create_dir(f"{bucket}/empty")
    fs.create_dir(f"{bucket}/tree/inner")
    assert fs.get_file_info(f"{bucket}/empty").type == pyarrow.fs.FileType.Directory
    assert stack.is_collection(ticket["path"] + "/empty")
    with fs.open_output_stream(f"{bucket}/tree/inner/f.txt") as stream:
        stream.write(b"f")
    infos = fs.get_file_info(pyarrow.fs.FileSelector(bucket, recursive=True))
    found = {(i.path, i.type) for i in infos}
    assert (f"{bucket}/empty", pyarrow.fs.FileType.Directory) in found
    assert (f"{bucket}/tree/inner/f.txt", pyarrow.fs.FileType.File) in found
    fs.delete_file(f"{bucket}/tree/inner/f.txt")
    fs.delete_dir(f"{bucket}/empty")
    assert fs.get_file_info(f"{bucket}/empty").type == pyarrow.fs.FileType.NotFound
    fs.delete_dir(f"{bucket}/tree")
    assert fs.get_file_info(f"{bucket}/tree").type == pyarrow.fs.FileType.NotFound
    assert not stack.exists(ticket["path"] + "/tree")
    with fs.open_output_stream(f"{bucket}/x.bin") as stream:
        stream.write(b"moved")
    fs.move(f"{bucket}/x.bin", f"{bucket}/y.bin")  # CopyObject, then DeleteObject
    assert fs.get_file_info(f"{bucket}/x.bin").type == pyarrow.fs.FileType.NotFound
    with fs.open_input_stream(f"{bucket}/y.bin") as stream:
        assert stream.read() == b"moved"


def test_folders_and_mv_with_s3fs(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    fs = s3fs.S3FileSystem(**json.loads(stack.credentials(ticket["id"], "fsspec")))
    fs.pipe(f"{bucket}/dir/a.txt", b"a")
    fs.mv(f"{bucket}/dir/a.txt", f"{bucket}/other/b.txt")
    fs.invalidate_cache()
    assert fs.cat(f"{bucket}/other/b.txt") == b"a"
    assert not fs.exists(f"{bucket}/dir/a.txt")
    assert sorted(fs.ls(bucket, detail=False)) == [f"{bucket}/other"]  # "dir" went with its last object
    fs.touch(f"{bucket}/made/")  # s3fs's way to make a folder marker
    fs.invalidate_cache()
    assert fs.isdir(f"{bucket}/made")
    fs.rm(f"{bucket}/other", recursive=True)
    fs.rm(f"{bucket}/made", recursive=True)
    fs.invalidate_cache()
    assert fs.ls(bucket, detail=False) == []
