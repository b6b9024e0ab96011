"""Data tools driving the running gateway with nothing but the API's ``credentials?format=`` output for them:
DuckDB (httpfs from the duckdb-extension-httpfs package), pyarrow, s3fs and pandas, polars, obstore, s5cmd (the
``env`` format) and rclone's remote control (``rclone-rc``). Every byte read back is compared; every test runs on
both backends. The seeded objects are put in place past TicketBooth (on iRODS without a checksum), so the tools
that compare ETags between requests (s3fs, DuckDB) read them through their provisional ETag."""
from __future__ import annotations

import io
import json
import os
import subprocess
import time

import duckdb  # noqa: F401 - imported here so a missing test extra fails at collection, not mid-test
import obstore
import pandas
import polars
import pyarrow.csv
import pyarrow.fs
import pytest
import requests
import s3fs

from ..datatools import duckdb_connection, s5cmd_command
from .conftest import BOTH, require_program
from .servers import free_port

pytestmark = pytest.mark.clients
BACKENDS = BOTH

CSV = b"name,value\nalpha,1\nbeta,2\ngamma,39\n"
BLOB = os.urandom(300_000)


@pytest.fixture
def ticket(stack, request):
    """A write ticket on a fresh collection holding data.csv and nested/blob.bin."""
    logical = stack.collection(f"tools-{request.node.name}"[:60])
    stack.seed(f"{logical}/data.csv", CSV)
    stack.seed(f"{logical}/nested/blob.bin", BLOB)
    return stack.create_ticket(logical, access="write")


def options(stack, ticket, fmt):
    return json.loads(stack.credentials(ticket["id"], fmt))


def test_duckdb_secret_reads_globs_and_writes(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    connection = duckdb_connection()
    connection.execute(stack.credentials(ticket["id"], "duckdb"))
    assert connection.execute(f"SELECT sum(value) FROM read_csv('s3://{bucket}/data.csv')").fetchone() == (42,)
    files = sorted(row[0] for row in connection.execute(f"SELECT file FROM glob('s3://{bucket}/**')").fetchall())
    assert files == [f"s3://{bucket}/data.csv", f"s3://{bucket}/nested/blob.bin"]
    connection.execute(f"COPY (SELECT * FROM read_csv('s3://{bucket}/data.csv')) TO 's3://{bucket}/out.parquet'")
    assert connection.execute(f"SELECT list(name ORDER BY value) FROM 's3://{bucket}/out.parquet'").fetchone() == (
        ["alpha", "beta", "gamma"],)


def test_pyarrow_filesystem_lists_reads_and_writes(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    fs = pyarrow.fs.S3FileSystem(**options(stack, ticket, "pyarrow"))
    infos = fs.get_file_info(pyarrow.fs.FileSelector(bucket, recursive=True))
    assert {(info.path, info.size) for info in infos if info.type == pyarrow.fs.FileType.File} == {
        (f"{bucket}/data.csv", len(CSV)), (f"{bucket}/nested/blob.bin", len(BLOB))}
    with fs.open_input_file(f"{bucket}/nested/blob.bin") as stream:
        assert stream.read() == BLOB
    assert pyarrow.csv.read_csv(fs.open_input_stream(f"{bucket}/data.csv")).column("value").to_pylist() == [1, 2, 39]
    with fs.open_output_stream(f"{bucket}/written.bin") as stream:
        stream.write(BLOB[:1000])
    with fs.open_input_stream(f"{bucket}/written.bin") as stream:
        assert stream.read() == BLOB[:1000]


def test_s3fs_and_pandas_with_storage_options(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    storage_options = options(stack, ticket, "fsspec")
    fs = s3fs.S3FileSystem(**storage_options)
    assert sorted(fs.find(bucket)) == [f"{bucket}/data.csv", f"{bucket}/nested/blob.bin"]
    assert fs.cat(f"{bucket}/nested/blob.bin") == BLOB
    fs.pipe(f"{bucket}/piped.bin", BLOB[:5000])
    assert fs.cat(f"{bucket}/piped.bin") == BLOB[:5000]
    frame = pandas.read_csv(f"s3://{bucket}/data.csv", storage_options=storage_options)
    assert frame["value"].sum() == 42
    frame.to_csv(f"s3://{bucket}/pandas.csv", index=False, storage_options=storage_options)
    assert fs.cat(f"{bucket}/pandas.csv") == CSV


def test_polars_and_obstore_with_object_store_options(stack, ticket):
    bucket = ticket["s3"]["bucket"]
    storage_options = options(stack, ticket, "polars")
    frame = polars.read_csv(f"s3://{bucket}/data.csv", storage_options=storage_options)
    assert frame["value"].sum() == 42
    frame.write_parquet(f"s3://{bucket}/polars.parquet", storage_options=storage_options)
    assert polars.read_parquet(f"s3://{bucket}/polars.parquet", storage_options=storage_options).equals(frame)

    store = obstore.store.S3Store(bucket, config=storage_options)
    listed = {item["path"]: item["size"] for batch in obstore.list(store) for item in batch}
    assert listed["data.csv"] == len(CSV) and listed["nested/blob.bin"] == len(BLOB)
    assert bytes(obstore.get(store, "nested/blob.bin").bytes()) == BLOB
    obstore.put(store, "obstore.bin", io.BytesIO(BLOB[:777]))
    assert bytes(obstore.get(store, "obstore.bin").bytes()) == BLOB[:777]


def test_s5cmd_with_the_env_format(stack, ticket, workdir):
    (workdir / "ticket.env").write_text(stack.credentials(ticket["id"], "env"))
    (workdir / "up.bin").write_bytes(BLOB[:4096])
    # Nothing of the caller's environment: only what the env format exports (s5cmd reads S3_ENDPOINT_URL).
    env = {"HOME": str(workdir), "PATH": os.environ.get("PATH", "")}
    script = ('. ./ticket.env && "$@" ls "s3://$TICKETBOOTH_BUCKET/*" && '
              '"$@" cp up.bin "s3://$TICKETBOOTH_BUCKET/s5/up.bin" && '
              '"$@" cp "s3://$TICKETBOOTH_BUCKET/nested/blob.bin" down.bin')
    result = subprocess.run(["sh", "-c", script, "sh", *s5cmd_command()], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data.csv" in result.stdout and "nested/" in result.stdout
    assert (workdir / "down.bin").read_bytes() == BLOB
    assert stack.read(f"{ticket['path']}/s5/up.bin") == BLOB[:4096]


def test_rclone_rcd_config_create_then_list(stack, ticket, workdir):
    rclone = require_program("rclone")
    port = free_port()
    config = workdir / "rclone.conf"
    config.write_text("")
    with open(workdir / "rcd.log", "wb") as log:
        rcd = subprocess.Popen([rclone, "rcd", "--rc-no-auth", f"--rc-addr=127.0.0.1:{port}", "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT, env={"HOME": str(workdir), "PATH": ""})
    try:
        rc = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(f"{rc}/rc/noop", json={}, timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or rcd.poll() is not None:
                    raise AssertionError((workdir / "rcd.log").read_text()) from None
                time.sleep(0.1)
        body = json.loads(stack.credentials(ticket["id"], "rclone-rc"))
        created = requests.post(f"{rc}/config/create", json=body, timeout=30)
        assert created.status_code == 200, created.text
        remote = f"{body['name']}:{ticket['s3']['bucket']}"
        listing = requests.post(f"{rc}/operations/list", json={"fs": remote, "remote": "", "opt": {"recurse": True}},
                                timeout=60)
        assert listing.status_code == 200, listing.text
        assert {(item["Path"], item["Size"]) for item in listing.json()["list"] if not item["IsDir"]} == {
            ("data.csv", len(CSV)), ("nested/blob.bin", len(BLOB))}
    finally:
        rcd.terminate()
        rcd.wait(timeout=10)
