"""Benchmark what a download costs the gateway: worker CPU seconds per GiB, against nginx serving the same file.

The gateway runs as ``ticketbooth gateway`` (gunicorn gthread, its default threads, one worker: the process
measured, like nginx's one) on the embedded backend; nginx (1 worker, ``sendfile on``, no access log) serves
the embedded data directory as plain static files. Both serve the same file from the page cache with the same
requests, over keep-alive loopback connections, in interleaved rounds; each server's CPU (``utime + stime`` of its worker from
``/proc/<pid>/stat``) is read before and after each shape. Request shapes of real clients:

* ``whole object``: one GET of the object;
* ``16 MiB ranges``: ``Range: bytes=a-b`` in 16 MiB steps, one after another on one connection, as s3fs,
  pyarrow and DuckDB read a large object;
* ``8 MiB ranges x 4``: ``bytes=a-b`` in 8 MiB parts fetched by 4 connections at once, as boto3's
  ``download_file`` does (8 MiB ``multipart_chunksize``, several threads);
* ``suffix 16 MiB``: ``bytes=-16777216`` repeated (a Parquet reader's footer reads, a ``tail``).

A bare reference in the same rounds isolates the data path: one thread of this process sending the file's
16 MiB ranges to a loopback socket with ``os.sendfile``, and with ``readinto`` + ``sendall`` of a 1 MiB buffer
(what the gateway did for a range before it used ``sendfile``), its CPU (``time.thread_time``) per GiB.

Gateway requests are SigV4 header-signed by botocore (every one is authorized; uses are counted as
``s3.use_window`` groups them). Every response is checked: status, ``Content-Range``, length; a first round
compares the bytes of each shape through the gateway with the file's MD5.

Run from the repository root:  python benchmarks/bench_download.py [--gib 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import free_port, signed_headers, start_embedded, stop_all, worker_pids  # noqa: E402
from bench_upload import cpu_seconds, put_unsigned  # noqa: E402

from ticketbooth.api.auth import issue_dev_token  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
BUFFER = MiB


def start_nginx(root: Path, work: Path) -> tuple[subprocess.Popen, int]:
    """nginx serving ``root`` as static files on a free loopback port (1 worker, sendfile on); (master, port)."""
    program = shutil.which("nginx") or "/usr/sbin/nginx"
    base = work / "nginx"
    base.mkdir()
    port = free_port()
    temps = "".join(f"  {name}_temp_path {base / name};\n" for name in ("client_body", "proxy", "fastcgi",
                                                                         "uwsgi", "scgi"))
    (base / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # the data directory is private to its owner
        + f"daemon off;\nworker_processes 1;\npid {base / 'nginx.pid'};\nerror_log {base / 'error.log'} warn;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n{temps}  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n")
    process = subprocess.Popen([program, "-p", str(base), "-c", str(base / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, port
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start; see {base / 'error.log'}") from None
            time.sleep(0.1)


class Target:
    """One server and how to address the object there: ``headers(range)`` gives each request's headers."""

    def __init__(self, name: str, port: int, path: str, worker: int,
                 headers: Callable[[str | None], dict[str, str]]) -> None:
        self.name, self.port, self.path, self.worker, self.headers = name, port, path, worker, headers

    def get(self, connection: http.client.HTTPConnection, byte_range: str | None, expect: tuple[int, int],
            size: int, digest: hashlib._Hash | None = None) -> int:
        """GET the object (``byte_range``: a ``Range`` value) on ``connection``; checks the answer covers bytes
        ``expect`` (first, last) of ``size``; returns the bytes received (fed to ``digest`` if given)."""
        connection.request("GET", self.path, headers=self.headers(byte_range))
        response = connection.getresponse()
        status = 206 if byte_range else 200
        if response.status != status:
            raise RuntimeError(f"{self.name}: GET {byte_range} answered {response.status}: {response.read(300)!r}")
        if byte_range and response.getheader("Content-Range") != f"bytes {expect[0]}-{expect[1]}/{size}":
            raise RuntimeError(f"{self.name}: Content-Range {response.getheader('Content-Range')} for {byte_range}")
        view = memoryview(bytearray(BUFFER))
        received = 0
        while count := response.readinto(view):
            received += count
            if digest is not None:
                digest.update(view[:count])
        if received != expect[1] - expect[0] + 1:
            raise RuntimeError(f"{self.name}: {received} bytes for {byte_range}")
        return received


def ranges(size: int, step: int) -> Iterator[tuple[str, tuple[int, int]]]:
    for first in range(0, size, step):
        last = min(first + step, size) - 1
        yield f"bytes={first}-{last}", (first, last)


def run_shape(target: Target, shape: str, size: int, *, digest: hashlib._Hash | None = None) -> int:
    """Fetch the object once in ``shape``; returns the bytes received."""
    if shape == "whole object":
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
        with_close(connection, lambda: target.get(connection, None, (0, size - 1), size, digest))
        return size
    if shape == "16 MiB ranges":
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
        return with_close(connection, lambda: sum(target.get(connection, header, span, size, digest)
                                                  for header, span in ranges(size, 16 * MiB)))
    if shape == "suffix 16 MiB":
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
        span = (size - 16 * MiB, size - 1)
        return with_close(connection, lambda: sum(target.get(connection, "bytes=-16777216", span, size, digest)
                                                  for _ in range(size // (16 * MiB))))
    if shape == "8 MiB ranges x 4":
        parts = list(ranges(size, 8 * MiB))
        received: list[int] = []
        failures: list[BaseException] = []

        def fetch(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
            try:
                received.append(with_close(connection, lambda: sum(
                    target.get(connection, header, span, size) for header, span in parts[index::4])))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=fetch, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        if digest is not None:  # the parts out of order are not a stream: check them in order, one connection
            connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=600)
            with_close(connection, lambda: [target.get(connection, h, s, size, digest) for h, s in parts])
        return sum(received)
    raise ValueError(shape)


def with_close(connection: http.client.HTTPConnection, work: Callable[[], int]) -> int:
    try:
        return work()
    finally:
        connection.close()


def file_md5(path: Path, start: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        stream.seek(start)
        while block := stream.read(BUFFER):
            digest.update(block)
    return digest.hexdigest()


def bare_send(path: Path, size: int, step: int, *, use_sendfile: bool) -> float:
    """CPU seconds of a thread sending ``path`` in ``step``-byte pieces to a loopback socket, with ``os.sendfile``
    or with ``readinto`` + ``sendall`` of a 1 MiB buffer (what the gateway's body iterator did for a range)."""
    listener = socket.create_server(("127.0.0.1", 0))
    result: list[float] = []

    def server() -> None:
        connection, _ = listener.accept()
        view = memoryview(bytearray(BUFFER))
        with connection, open(path, "rb", buffering=0) as stream:
            started = time.thread_time()
            for first in range(0, size, step):
                left = min(step, size - first)
                if use_sendfile:
                    while left:
                        sent = os.sendfile(connection.fileno(), stream.fileno(), first, left)
                        first, left = first + sent, left - sent
                    continue
                stream.seek(first)
                while left:
                    count = stream.readinto(view[:min(left, BUFFER)])
                    connection.sendall(view[:count])
                    left -= count
            result.append(time.thread_time() - started)

    thread = threading.Thread(target=server)
    thread.start()
    with socket.create_connection(listener.getsockname()) as client:
        view = memoryview(bytearray(BUFFER))
        while client.recv_into(view):
            pass
    thread.join()
    listener.close()
    return result[0]


SHAPES = ("whole object", "16 MiB ranges", "8 MiB ranges x 4", "suffix 16 MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tb-download")
    parser.add_argument("--gib", type=float, default=2.0, help="object size (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best reported)")
    args = parser.parse_args()

    work, settings, api_port, gw_port, processes = start_embedded(args.workdir, workers=1)  # one worker: the one measured
    try:
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        zone = work / "data" / "zone"
        (zone / "tempZone" / "home" / "alice" / "dl").mkdir(parents=True, mode=0o700)
        credentials = requests.post(f"http://127.0.0.1:{api_port}/v1/tickets", timeout=30,
                                    json={"path": "/tempZone/home/alice/dl", "access": "write"},
                                    headers={"Authorization": f"Bearer {token}"}).json()["credentials"]
        akid, secret, bucket = (credentials["access_key_id"], credentials["secret_access_key"],
                                credentials["bucket"])
        block = os.urandom(MiB)
        count = int(args.gib * 1024)
        size = count * MiB
        put_unsigned(gw_port, f"/{bucket}/big.bin", akid, secret, block, count)  # stored with its ETag
        disk = zone / "tempZone" / "home" / "alice" / "dl" / "big.bin"
        whole, tail = file_md5(disk, 0), file_md5(disk, size - 16 * MiB)  # also warms the page cache
        nginx, nginx_port = start_nginx(zone, work)
        processes.append(nginx)
        nginx_worker = worker_pids(nginx.pid)[0]
        gateway_url = f"http://127.0.0.1:{gw_port}/{bucket}/big.bin"

        def gateway_headers(byte_range: str | None) -> dict[str, str]:
            return signed_headers("GET", gateway_url, akid, secret, {"Range": byte_range} if byte_range else None)

        targets = [Target("gateway", gw_port, f"/{bucket}/big.bin", worker_pids(processes[0].pid)[0],
                          gateway_headers),
                   Target("nginx", nginx_port, "/tempZone/home/alice/dl/big.bin", nginx_worker,
                          lambda byte_range: {"Range": byte_range} if byte_range else {})]
        # First round, unmeasured: the bytes of every shape through the gateway are the file's.
        for shape in SHAPES:
            digest = hashlib.md5(usedforsecurity=False)
            if shape == "suffix 16 MiB":
                targets[0].get(http.client.HTTPConnection("127.0.0.1", gw_port, timeout=600), "bytes=-16777216",
                               (size - 16 * MiB, size - 1), size, digest)
                reference = tail
            else:
                run_shape(targets[0], shape, size, digest=digest)
                reference = whole
            if digest.hexdigest() != reference:
                raise RuntimeError(f"gateway, {shape}: the bytes differ from the file's")
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; gateway: gunicorn "
              f"gthread 1 worker (ticketbooth gateway --workers 1), embedded backend; nginx 1 worker, sendfile on; "
              f"{size / GiB:g} GiB object from the page cache; best of {args.repeat}")
        cpu: dict[tuple[str, str], list[float]] = {}
        wall: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for shape in SHAPES:
                for target in targets:
                    before, started = cpu_seconds(target.worker), time.perf_counter()
                    received = run_shape(target, shape, size)
                    elapsed = time.perf_counter() - started
                    gib = received / GiB
                    cpu.setdefault((shape, target.name), []).append((cpu_seconds(target.worker) - before) / gib)
                    wall.setdefault((shape, target.name), []).append(received / MiB / elapsed)
            for name, use_sendfile in (("bare sendfile", True), ("bare read + sendall", False)):
                cpu.setdefault(("16 MiB ranges", name), []).append(
                    bare_send(disk, size, 16 * MiB, use_sendfile=use_sendfile) / (size / GiB))
        for shape in SHAPES:
            gateway, reference = min(cpu[shape, "gateway"]), min(cpu[shape, "nginx"])
            print(f"  {shape:18} gateway {gateway:5.2f} s CPU/GiB ({max(wall[shape, 'gateway']):6.0f} MiB/s)   "
                  f"nginx {reference:5.2f} s CPU/GiB ({max(wall[shape, 'nginx']):6.0f} MiB/s)   "
                  f"rounds gateway {', '.join(f'{f:.2f}' for f in cpu[shape, 'gateway'])}; "
                  f"nginx {', '.join(f'{f:.2f}' for f in cpu[shape, 'nginx'])}")
        for name in ("bare sendfile", "bare read + sendall"):
            figures = cpu["16 MiB ranges", name]
            print(f"  reference, 16 MiB ranges, one thread: {name:20} {min(figures):5.2f} s CPU/GiB   "
                  f"rounds {', '.join(f'{f:.2f}' for f in figures)}")
        load = os.getloadavg()
        print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        stop_all(processes)


if __name__ == "__main__":
    main()
