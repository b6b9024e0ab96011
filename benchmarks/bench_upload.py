"""Benchmark what an upload costs the gateway: worker CPU seconds per GiB and peak RSS, against the physical cost.

The gateway runs as ``ticketbooth gateway`` (gunicorn gthread, its default threads, one worker: the process
measured) on the embedded backend. Each PUT streams a generated body (a random 1 MiB block repeated, so the
client costs little and nothing is read from disk) over a keep-alive loopback connection; the gateway worker's CPU (``utime +
stime`` from ``/proc/<pid>/stat``) is read before and after each request. Request shapes are those of real
clients:

* ``UNSIGNED-PAYLOAD``: SigV4 header signature, unsigned body (boto3/aws cli with payload signing off over
  plain http, presigned-curl uploads);
* ``UNSIGNED-PAYLOAD + CRC32``: the same with ``x-amz-checksum-crc32`` and ``x-amz-sdk-checksum-algorithm``,
  which is exactly what boto3 >= 1.36 sends over http (it adds a CRC32 by default);
* ``aws-chunked signed``: ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` in 128 KiB chunks (the AWS SDK for Java's
  streaming signer; every chunk signature verified by the gateway);
* the 5 GiB upload (``UNSIGNED-PAYLOAD``) for the worker's peak RSS (``VmHWM``) above its idle size.

References in the same run, each CPU seconds per GiB of the process or thread doing it:

* MD5 alone: one ``hashlib.md5`` pass over the same bytes (no upload with an ETag can cost less);
* physical: one ``hashlib.md5`` pass and one ``os.write`` of the same bytes to a file in the data directory,
  then ``fsync`` (what the issue calls the physical cost; ``dd conv=fsync`` plus an MD5);
* bare socket: a thread receiving the same body from a loopback socket with ``recv_into`` into one reused
  1 MiB buffer, hashing it with MD5 and writing it to a file (fsync at the end): the least a Python server
  can spend per byte.

Run from the repository root:  python benchmarks/bench_upload.py [--gib 1] [--big-gib 5] [--repeat 3]
[--profile DIR]  (py-spy collapsed stacks of the worker during one more PUT of each shape, needs root)
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import (  # noqa: E402 - the shared loopback helpers
    put_chunked,
    start_embedded,
    stop_all,
    vm_hwm_kib,
    worker_pids,
)

from ticketbooth.api.auth import issue_dev_token  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
BLOCK = MiB
SDK_CHUNK = 128 * 1024  # the AWS SDK for Java's aws-chunked chunk size
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def repeated_crc32(block: bytes, count: int) -> str:
    value = 0
    for _ in range(count):
        value = zlib.crc32(block, value)
    return base64.b64encode(value.to_bytes(4, "big")).decode()


def put_unsigned(port: int, path: str, akid: str, secret: str,
                 block: bytes, count: int, crc32: str | None = None) -> None:
    """PUT ``count`` copies of ``block`` with ``UNSIGNED-PAYLOAD`` (header-signed by botocore), as boto3 sends
    it over http; with ``crc32`` also its ``x-amz-checksum-crc32`` (boto3 >= 1.36's default)."""
    extra = {"Content-Length": str(len(block) * count)}
    if crc32 is not None:
        extra.update({"x-amz-checksum-crc32": crc32, "x-amz-sdk-checksum-algorithm": "CRC32"})
    request = AWSRequest(method="PUT", url=f"http://127.0.0.1:{port}{path}", headers=extra)
    # As boto3 with Config(s3={"payload_signing_enabled": False}) signs it (over http botocore signs the
    # payload's SHA-256 unless told not to).
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(akid, secret), "s3", "us-east-1").add_auth(request)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    if headers["X-Amz-Content-SHA256"] != "UNSIGNED-PAYLOAD":
        raise RuntimeError("botocore did not sign the request with UNSIGNED-PAYLOAD")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", f"127.0.0.1:{port}")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    for _ in range(count):
        connection.send(block)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"PUT answered {response.status}: {body[:500]!r}")


def md5_alone(block: bytes, count: int) -> float:
    """CPU seconds of one MD5 pass over ``count`` copies of ``block``: the floor of any upload with an ETag."""
    started = time.process_time()
    digest = hashlib.md5(usedforsecurity=False)
    for _ in range(count):
        digest.update(block)
    digest.hexdigest()
    return time.process_time() - started


def physical(directory: Path, block: bytes, count: int) -> float:
    """CPU seconds of one MD5 pass plus one write (and fsync) of ``count`` copies of ``block``."""
    path = directory / "physical.bin"
    started = time.process_time()
    digest = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(count):
            digest.update(block)
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    digest.hexdigest()
    elapsed = time.process_time() - started
    path.unlink()
    return elapsed


def bare_socket(directory: Path, block: bytes, count: int) -> float:
    """CPU seconds of a thread receiving ``count`` blocks from loopback into a reused buffer, MD5 and write."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    path = directory / "bare.bin"
    result: list[float] = []

    def server() -> None:
        connection, _ = listener.accept()
        buffer = bytearray(BLOCK)
        view = memoryview(buffer)
        digest = hashlib.md5(usedforsecurity=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        started = time.thread_time()
        left = len(block) * count
        while left:
            got = connection.recv_into(view, min(left, BLOCK))
            if not got:
                break
            digest.update(view[:got])
            os.write(fd, view[:got])
            left -= got
        os.fsync(fd)
        result.append(time.thread_time() - started)
        os.close(fd)
        connection.close()

    thread = threading.Thread(target=server)
    thread.start()
    with socket.create_connection(("127.0.0.1", port)) as client:
        for _ in range(count):
            client.sendall(block)
    thread.join()
    listener.close()
    path.unlink()
    return result[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tb-upload")
    parser.add_argument("--gib", type=float, default=1.0, help="size of the CPU-measured PUTs (default 1)")
    parser.add_argument("--big-gib", type=float, default=5.0, help="size of the RSS-measured PUT (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of references and PUTs (best reported)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy record the worker during one PUT per shape")
    args = parser.parse_args()

    work, settings, api_port, gw_port, processes = start_embedded(args.workdir, workers=1)  # one worker: the one measured
    gateway = processes[0]
    try:
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        collection = work / "data" / "zone" / "tempZone" / "home" / "alice" / "up"
        collection.mkdir(parents=True, mode=0o700)
        credentials = requests.post(f"http://127.0.0.1:{api_port}/v1/tickets", timeout=30,
                                    json={"path": "/tempZone/home/alice/up", "access": "write"},
                                    headers={"Authorization": f"Bearer {token}"}).json()["credentials"]
        akid, secret, bucket = (credentials["access_key_id"], credentials["secret_access_key"],
                                credentials["bucket"])
        worker = worker_pids(gateway.pid)[0]
        block = os.urandom(BLOCK)
        count = int(args.gib * 1024)
        gib = count * BLOCK / GiB
        crc32 = repeated_crc32(block, count)
        # Warm-up: imports, the key cache, the first spool file.
        put_unsigned(gw_port, f"/{bucket}/warm.bin", akid, secret, block, 4)
        idle_hwm, idle_rss = vm_hwm_kib(worker), vm_rss_kib(worker)
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; gateway: gunicorn "
              f"gthread 1 worker (ticketbooth gateway --workers 1), embedded backend; {gib:g} GiB bodies, "
              f"best of {args.repeat}")
        print(f"worker idle: VmRSS {idle_rss / 1024:.1f} MiB, VmHWM {idle_hwm / 1024:.1f} MiB")

        def measured(run) -> float:
            before = cpu_seconds(worker)
            run()
            return cpu_seconds(worker) - before

        def stored_once(run, key: str) -> float:
            seconds = measured(lambda: run(key))
            if (collection / key).stat().st_size != count * BLOCK:
                raise RuntimeError(f"{key}: the PUT stored the wrong size")
            (collection / key).unlink()
            return seconds

        shapes = {
            "UNSIGNED-PAYLOAD": lambda key: put_unsigned(gw_port, f"/{bucket}/{key}", akid, secret,
                                                         block, count),
            "UNSIGNED-PAYLOAD + x-amz-checksum-crc32": lambda key: put_unsigned(
                gw_port, f"/{bucket}/{key}", akid, secret, block, count, crc32),
            "aws-chunked signed, 128 KiB chunks": lambda key: put_chunked(
                gw_port, f"/{bucket}/{key}", akid, secret, block[:SDK_CHUNK], count * BLOCK // SDK_CHUNK),
        }
        # Rounds interleave the references and every shape, so that load from other processes on the shared
        # cores weighs on all alike; each figure is its best round.
        figures: dict[str, list[float]] = {}
        for round_number in range(args.repeat):
            figures.setdefault("reference md5 alone", []).append(md5_alone(block, count))
            figures.setdefault("reference physical: md5 + write + fsync", []).append(physical(work, block, count))
            figures.setdefault("reference bare socket: recv_into + md5 + write", []).append(
                bare_socket(work, block, count))
            for number, (name, run) in enumerate(shapes.items()):
                figures.setdefault(f"gateway {name}", []).append(stored_once(run, f"shape{number}-{round_number}.bin"))
        bare = min(figures["reference bare socket: recv_into + md5 + write"]) / gib
        for name, seconds in figures.items():
            best = min(seconds) / gib
            versus = f"  {best / bare:4.2f}x bare socket" if name.startswith("gateway") else ""
            print(f"  {name:50} {best:6.2f} s CPU/GiB{versus}   (rounds: "
                  f"{', '.join(f'{f / gib:.2f}' for f in seconds)})")

        if args.profile:
            out = Path(args.profile)
            out.mkdir(parents=True, exist_ok=True)
            for number, (name, run) in enumerate(shapes.items()):
                output = out / f"shape{number}.txt"
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(worker), "--rate", "250", "--format",
                                        "raw", "--output", str(output)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                time.sleep(1.0)
                run(f"profiled-{number}.bin")
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
                (collection / f"profiled-{number}.bin").unlink()
                print(f"  profile of {name}: {output} (collapsed stacks)")

        if args.big_gib:
            big = int(args.big_gib * 1024)
            before = vm_hwm_kib(worker)
            put_unsigned(gw_port, f"/{bucket}/big.bin", akid, secret, block, big)
            after = vm_hwm_kib(worker)
            print(f"  {big * BLOCK / GiB:g} GiB UNSIGNED-PAYLOAD PUT: worker VmHWM {before / 1024:.1f} -> "
                  f"{after / 1024:.1f} MiB (+{(after - idle_hwm) / 1024:.1f} MiB above idle; bar < 64)")
            (collection / "big.bin").unlink()
    finally:
        stop_all(processes)


if __name__ == "__main__":
    main()
