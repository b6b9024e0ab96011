"""Benchmark the S3 gateway and the authorize endpoint on loopback, each against a reference in the same run.

1. GET of a 1 GiB object through the gateway (gunicorn, gthread) vs reading the same file from disk (both from
   the page cache, same 1 MiB buffer): throughput ratio, target >= 0.7.
2. PUT of 1 GiB with aws-chunked signing (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 1 MiB chunks, every chunk
   signature verified by the gateway): throughput, and the gateway worker's peak RSS (VmHWM) before/after.
3. Authorize decisions per second: POST /v1/authorize under gunicorn (concurrent clients), and in-process
   verify + resolve + policy (no use counted) and the full ``s3.access.authorize`` (one use counted), with
   botocore signing the same request as the reference.

Run from the repository root (package installed, or PYTHONPATH=.):  python benchmarks/bench_gateway.py [--workdir /tmp/tb-bench] [--gib 1]
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ticketbooth import policy
from ticketbooth.api.auth import issue_dev_token
from ticketbooth.backends import load_backend
from ticketbooth.resolver import KeyResolver
from ticketbooth.s3.access import RequestParts, authorize
from ticketbooth.settings import Settings, load_settings
from ticketbooth.sigv4 import verify
from ticketbooth.sigv4.canonical import (
    EMPTY_SHA256,
    canonical_headers,
    canonical_request,
    canonical_uri,
    collect_headers,
    string_to_sign,
)
from ticketbooth.sigv4.signing import hmac_sha256_hex, signing_key

MiB = 1024 * 1024
CHUNK = MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(app: str, port: int, env: dict[str, str], log: Path, *, workers: int, threads: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--threads", str(threads), "--worker-class", "gthread", "--timeout", "600", "--log-level", "warning",
               app]
    return launch(command, port, env, log)


def launch(command: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run ``command`` (a server on loopback ``port``, output to ``log``) until its ``/healthz`` answers."""
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not start; see {log}") from None
            time.sleep(0.1)


def fresh_embedded_config(workdir: str) -> tuple[Path, Path, int, int]:
    """Empty ``workdir`` and write a ticketbooth.toml for an embedded deployment (user alice) there, with an API
    and a gateway port picked on loopback. Returns (work directory, config file, API port, gateway port)."""
    work = Path(workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    api_port, gw_port = free_port(), free_port()
    config = work / "ticketbooth.toml"
    config.write_text(
        f'data_dir = "{work / "data"}"\nlog_level = "WARNING"\n[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n'
        f'[s3]\nendpoint_url = "http://127.0.0.1:{gw_port}"\nmaster_key = "{secrets.token_hex(32)}"\n'
        f'[embedded]\nusers = ["alice"]\n')
    return work, config, api_port, gw_port


def start_embedded(workdir: str, *, workers: int | None = None) -> tuple[Path, Settings, int, int,
                                                                         list[subprocess.Popen]]:
    """A fresh embedded deployment (:func:`fresh_embedded_config`) with the API (gunicorn, 1 worker x 4 threads)
    and the gateway as ``ticketbooth gateway`` runs it (its production defaults; ``workers`` overrides its worker
    count: one when the caller reads the serving worker's CPU or RSS) started on it. Returns (work directory,
    settings, API port, gateway port, [gateway, API] processes: the caller stops them)."""
    work, config, api_port, gw_port = fresh_embedded_config(workdir)
    settings = load_settings(config, environ={})
    env = {"TICKETBOOTH_CONFIG": str(config)}
    api = start("ticketbooth.wsgi:app", api_port, env, work / "api.log", workers=1, threads=4)
    gateway = launch([str(Path(sys.executable).with_name("ticketbooth")), "gateway", "--config", str(config),
                      "--port", str(gw_port), *(["--workers", str(workers)] if workers else [])],
                     gw_port, env, work / "gateway.log")
    return work, settings, api_port, gw_port, [gateway, api]


def stop_all(processes: list[subprocess.Popen]) -> None:
    """Terminate the servers, then wait for each."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def signed_headers(method: str, url: str, akid: str, secret: str, extra: dict[str, str] | None = None
                   ) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=dict(extra or {}))
    request.context["payload_signing_enabled"] = False
    S3SigV4Auth(Credentials(akid, secret), "s3", "us-east-1").add_auth(request)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}


# -- 1. GET ---------------------------------------------------------------------------------------------

def read_disk(path: Path) -> float:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    start_time = time.perf_counter()
    with open(path, "rb", buffering=0) as stream:
        while stream.readinto(view):
            pass
    return time.perf_counter() - start_time


def get_gateway(port: int, path: str, headers: dict[str, str], size: int) -> float:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    start_time = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET answered {response.status}: {response.read(500)!r}")
    received = 0
    while True:
        count = response.readinto(view)
        if not count:
            break
        received += count
    elapsed = time.perf_counter() - start_time
    connection.close()
    if received != size:
        raise RuntimeError(f"GET returned {received} bytes, expected {size}")
    return elapsed


# -- 2. PUT with aws-chunked signing --------------------------------------------------------------------

def put_chunked(port: int, bucket_path: str, akid: str, secret: str, block: bytes, count: int) -> float:
    """Stream ``count`` copies of ``block`` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signed chunk by chunk."""
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/us-east-1/s3/aws4_request"
    host = f"127.0.0.1:{port}"
    framing = len(f"{len(block):x};chunk-signature=".encode()) + 64 + 4
    total = count * (len(block) + framing) + len(b"0;chunk-signature=") + 64 + 4
    headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "x-amz-decoded-content-length": str(len(block) * count), "content-encoding": "aws-chunked",
               "content-length": str(total)}
    names = sorted(headers)
    # The seed signature, built with the verifier's own canonicalization (SigV4 steps 1-4).
    key = signing_key(secret, day, "us-east-1", "s3")
    request = canonical_request("PUT", canonical_uri(bucket_path), "", canonical_headers(collect_headers(headers), names),
                                ";".join(names), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    previous = hmac_sha256_hex(key, string_to_sign(amz_date, scope, request))
    authorization = (f"AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={';'.join(names)}, "
                     f"Signature={previous}")
    block_hash = hashlib.sha256(block).hexdigest()

    def chunk_signature(data_hash: str) -> str:
        nonlocal previous
        text = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{data_hash}"
        previous = hmac_sha256_hex(key, text.encode())
        return previous

    connection = http.client.HTTPConnection("127.0.0.1", port)
    start_time = time.perf_counter()
    connection.putrequest("PUT", bucket_path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.putheader("Authorization", authorization)
    connection.endheaders()
    for _ in range(count):
        connection.send(f"{len(block):x};chunk-signature={chunk_signature(block_hash)}\r\n".encode())
        connection.send(block)
        connection.send(b"\r\n")
    connection.send(f"0;chunk-signature={chunk_signature(EMPTY_SHA256)}\r\n\r\n".encode())
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start_time
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"PUT answered {response.status}: {body[:500]!r}")
    return elapsed


# -- 3. authorize -------------------------------------------------------------------------------------------

def authorize_endpoint(api_port: int, secret: str, body: dict, total: int, clients: int) -> tuple[float, int]:
    """Granted decisions per second, and how many calls were refused (a refusal is reported, not hidden)."""
    per_client = total // clients
    failures: list[str] = []

    def run() -> None:
        session = requests.Session()
        for _ in range(per_client):
            response = session.post(f"http://127.0.0.1:{api_port}/v1/authorize", json=body,
                                    headers={"X-TicketBooth-Gateway-Secret": secret}, timeout=30)
            if response.status_code != 200:
                failures.append(response.text[:200])

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start_time = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start_time
    if failures:
        print(f"   !! {len(failures)} of {per_client * clients} authorize calls refused, e.g. {failures[0][:160]!r}")
    return (per_client * clients - len(failures)) / elapsed, len(failures)


def per_second(fn, number: int, repeat: int = 5) -> float:
    best = min(timed(fn, number) for _ in range(repeat))
    return number / best


def timed(fn, number: int) -> float:
    start_time = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tb-bench")
    parser.add_argument("--gib", type=float, default=1.0, help="object size in GiB (default 1)")
    parser.add_argument("--requests", type=int, default=2000, help="authorize calls under gunicorn")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    size = int(args.gib * 1024) * MiB
    api_port, gw_port = free_port(), free_port()
    gateway_secret = secrets.token_hex(24)
    config = work / "ticketbooth.toml"
    config.write_text(
        f'data_dir = "{work / "data"}"\nlog_level = "WARNING"\n[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n'
        f'[s3]\nendpoint_url = "http://127.0.0.1:{gw_port}"\nmaster_key = "{secrets.token_hex(32)}"\n'
        f'[gateway]\nauthorize_secret = "{gateway_secret}"\n[embedded]\nusers = ["alice"]\n')
    env = {"TICKETBOOTH_CONFIG": str(config)}
    settings = load_settings(config, environ={})
    api = start("ticketbooth.wsgi:app", api_port, env, work / "api.log", workers=2, threads=4)
    gateway = start("ticketbooth.gateway.app:create_gateway_app()", gw_port, env, work / "gateway.log",
                    workers=1, threads=4)
    try:
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        collection = work / "data" / "zone" / "tempZone" / "home" / "alice" / "bench"
        collection.mkdir(parents=True)
        block = os.urandom(CHUNK)
        big = collection / "big.bin"
        with open(big, "wb") as stream:
            for _ in range(size // CHUNK):
                stream.write(block)
        ticket = requests.post(f"http://127.0.0.1:{api_port}/v1/tickets", timeout=30,
                               json={"path": "/tempZone/home/alice/bench", "access": "write"},
                               headers={"Authorization": f"Bearer {token}"}).json()
        akid, secret = ticket["credentials"]["access_key_id"], ticket["credentials"]["secret_access_key"]
        bucket = ticket["credentials"]["bucket"]
        worker = worker_pids(gateway.pid)[0]
        rss_start = vm_hwm_kib(worker)
        print(f"object {size / MiB:.0f} MiB; gateway: gunicorn gthread 1 worker x 4 threads; "
              f"API: 2 workers x 4 threads; {os.cpu_count()} CPUs")

        # 1. GET vs disk, interleaved, best of 3 each (page cache warm for both).
        read_disk(big)
        get_path = f"/{bucket}/bench.bin".replace("bench.bin", "big.bin")
        disk_times, gw_times = [], []
        for _ in range(3):
            disk_times.append(read_disk(big))
            headers = signed_headers("GET", f"http://127.0.0.1:{gw_port}{get_path}", akid, secret)
            gw_times.append(get_gateway(gw_port, get_path, headers, size))
        disk_rate, gw_rate = size / MiB / min(disk_times), size / MiB / min(gw_times)
        rss_get = vm_hwm_kib(worker)
        print("1. GET 1 object")
        print(f"   disk read (1 MiB readinto)      {disk_rate:9.1f} MiB/s")
        print(f"   gateway GET                     {gw_rate:9.1f} MiB/s")
        print(f"   ratio                           {gw_rate / disk_rate:9.3f}   target >= 0.7")

        # 2. PUT with signed aws-chunked framing.
        put_times = [put_chunked(gw_port, f"/{bucket}/put-{i}.bin", akid, secret, block, size // CHUNK)
                     for i in range(2)]
        stored = collection / "put-1.bin"
        if stored.stat().st_size != size:
            raise RuntimeError("the PUT stored the wrong size")
        rss_put = vm_hwm_kib(worker)
        print("2. PUT aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 1 MiB chunks)")
        print(f"   throughput                      {size / MiB / min(put_times):9.1f} MiB/s (best of 2)")
        print(f"   gateway worker peak RSS (VmHWM) {rss_start / 1024:7.1f} MiB at start, "
              f"{rss_get / 1024:.1f} MiB after GETs, {rss_put / 1024:.1f} MiB after PUTs")

        # 3. authorize decisions.
        url = f"http://127.0.0.1:{gw_port}/{bucket}/big.bin"
        headers = signed_headers("GET", url, akid, secret)
        body = {"method": "GET", "uri": f"/{bucket}/big.bin", "headers": [[k, v] for k, v in headers.items()]
                + [["Host", f"127.0.0.1:{gw_port}"]], "client_ip": "127.0.0.1"}
        authorize_endpoint(api_port, gateway_secret, body, 200, args.clients)  # warm-up
        endpoint_rate, refused = authorize_endpoint(api_port, gateway_secret, body, args.requests, args.clients)

        backend = load_backend(settings)
        resolver = KeyResolver(backend, backend.master_key() if hasattr(backend, "master_key")
                               else settings.s3.master_key.encode(), ttl=settings.s3.key_cache_ttl)
        header_pairs = list(headers.items()) + [("Host", f"127.0.0.1:{gw_port}")]

        def verify_and_policy() -> None:
            result = verify("GET", f"/{bucket}/big.bin", "", header_pairs, b"", resolver.secret_for)
            resolved = resolver(result.access_key_id)
            policy.check_usable(resolved.ticket, resolved.holder, (), "127.0.0.1", datetime.now(UTC))
            if not policy.action_allowed(resolved.ticket, "read"):
                raise RuntimeError("refused")

        parts = RequestParts("GET", f"/{bucket}/big.bin", "", tuple(header_pairs), b"", "127.0.0.1")

        def full_authorize() -> None:
            with authorize(parts, resolver=resolver, backend=backend, settings=settings, now=datetime.now(UTC)):
                pass

        def botocore_sign() -> None:
            signed_headers("GET", url, akid, secret)

        inproc = per_second(verify_and_policy, 2000)
        full = per_second(full_authorize, 300)
        reference = per_second(botocore_sign, 2000)
        print("3. authorize decisions")
        print(f"   POST /v1/authorize (gunicorn, {args.clients} clients) {endpoint_rate:9.0f} /s granted "
              f"({refused} refused)")
        print(f"   in-process verify+resolve+policy        {inproc:9.0f} /s")
        print(f"   in-process authz.authorize (use counted) {full:8.0f} /s")
        print(f"   reference: botocore signing the request {reference:9.0f} /s")
        print(f"   uses counted on the ticket: {backend.find_ticket(ticket['id']).uses_count}")
    finally:
        for process in (gateway, api):
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
