"""Benchmark small requests (4 KiB GET, HEAD, PUT) through the gateway against SeaweedFS's S3 server, same run.

Eight client threads, each with its own keep-alive connection, send presigned requests (SigV4 query signature
by botocore, ``UNSIGNED-PAYLOAD`` for PUT: the shape of ``aws s3 presign`` and presigned-curl clients) for a
fixed number of requests per operation; the URLs are signed before the clock starts. Reported per server and
operation: requests per second, the median, p90 and p99 latency, the 1-minute load average when it ended, and
for a server of several worker processes how its CPU fell on them (a worker keeps the connections it accepted).
The gateway is ``ticketbooth gateway`` itself with its defaults (gunicorn gthread, its worker and thread counts,
access log on; ``--workers``/``--threads`` override them) on the embedded backend, with a read-write ticket
without a uses limit (the use count is then tallied and group-committed, see docs/embedded.md) and, with
``--limited``, a ticket with a uses limit it never reaches: a request that starts a use is counted in a group
commit under the catalogue's write lock; with the default use window (``s3.use_window``, 10 s) only the first
request of a key pair's window starts one, so ``--use-window 0`` measures a count per request.

With ``--floor`` a WSGI app that only answers is measured too, under bare gunicorn gthread with the gateway's
worker and thread counts: the cost of the server machinery alone, same client.

Run from the repository root:  python benchmarks/bench_small.py [--requests 2000] [--clients 8] [--limited] [--floor]
[--workers N] [--threads N] [--no-seaweedfs] [--in-process]

With ``--in-process`` the gateway app is also called directly in this process (one thread, no HTTP server, the
same ticket and objects): the application's own CPU time per request, apart from the server and the threads.
"""
from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import free_port, fresh_embedded_config, launch, start, worker_pids  # noqa: E402 - the shared loopback helpers
from bench_listing import start_seaweedfs  # noqa: E402
from bench_upload import cpu_seconds  # noqa: E402

from ticketbooth.api.auth import issue_dev_token  # noqa: E402
from ticketbooth.cpus import usable_cpus  # noqa: E402
from ticketbooth.serving import GATEWAY_THREADS  # noqa: E402
from ticketbooth.settings import load_settings  # noqa: E402

BODY = os.urandom(4096)


def floor_app(environ: dict, start_response) -> list[bytes]:
    """The ``--floor`` reference: a WSGI app that reads the body and answers 4 KiB (GET) or nothing, under the same
    gunicorn gthread worker: what serving a small request costs before any application work."""
    environ["wsgi.input"].read()
    get = environ["REQUEST_METHOD"] == "GET"
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(BODY)) if get else "0")])
    return [BODY] if get else [b""]


def presign(method: str, url: str, akid: str, secret: str) -> str:
    request = AWSRequest(method=method, url=url)
    S3SigV4QueryAuth(Credentials(akid, secret), "s3", "us-east-1", expires=3600).add_auth(request)
    return request.url


def run(port: int, method: str, targets: list[str], clients: int) -> tuple[float, list[float]]:
    """Send every target (path and query) once, spread over ``clients`` threads; (wall seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client(mine: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        own: list[float] = []
        start_gate.wait()
        for target in mine:
            started = time.perf_counter()
            body = BODY if method == "PUT" else None
            connection.request(method, target, body=body, headers={"Content-Length": str(len(BODY))}
                               if method == "PUT" else {})
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 204):
                raise RuntimeError(f"{method} answered {response.status}")
            own.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(targets[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def tree_cpu(pid: int) -> tuple[float, int]:
    """(CPU seconds, user + system, and context switches, voluntary or not) used so far by process ``pid`` and
    every descendant still running, all their threads."""
    total, switches, todo = 0.0, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
                for line in (task / "status").read_text().splitlines():
                    if "ctxt_switches:" in line:
                        switches += int(line.split()[1])
            total += cpu_seconds(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total, switches


def worker_split(before: dict[int, float], after: dict[int, float]) -> str:
    """How the CPU of a run fell on the worker processes, largest share first ("71/29 %"): a worker keeps the
    keep-alive connections it accepted, so an uneven split means the clients' connections landed unevenly."""
    spent = sorted((after[pid] - before.get(pid, 0.0) for pid in after), reverse=True)
    total = sum(spent)
    if len(spent) < 2 or total <= 0:
        return ""
    return "  workers " + "/".join(f"{100 * share / total:.0f}" for share in spent) + " %"


def report(name: str, method: str, wall: float, latencies: list[float],
           cpu: tuple[float, int] | None = None, split: str = "") -> None:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    spent = "" if cpu is None else (f"  server CPU {cpu[0] / len(ordered) * 1e6:5.0f} us/req"
                                    f" {cpu[1] / len(ordered):5.1f} switches/req")
    print(f"{name:10} {method:5} {len(ordered) / wall:8.0f}/s  median {statistics.median(ordered) * 1000:6.1f} ms"
          f"  p90 {p(0.90):6.1f} ms  p99 {p(0.99):6.1f} ms{spent}  load {os.getloadavg()[0]:.1f}{split}",
          flush=True)


def measure(name: str, port: int, base_path: str, akid: str, secret: str, count: int, clients: int,
            server: int | None = None) -> None:
    """``server``: the pid whose process tree serves ``port``, to report its CPU time per request."""
    url = f"http://127.0.0.1:{port}{base_path}"
    for method in ("PUT", "GET", "HEAD"):
        keys = [f"obj-{n % 64:03d}" for n in range(count)]  # PUT writes 64 objects over and over; GET/HEAD read them
        targets = []
        for key in keys:
            parts = urlsplit(presign(method, f"{url}/{key}", akid, secret))
            targets.append(f"{parts.path}?{parts.query}")
        run(port, method, targets[: max(count // 10, clients)], clients)  # warm-up
        workers = worker_pids(server) if server else []
        before = tree_cpu(server) if server else (0.0, 0)
        per_worker = {pid: cpu_seconds(pid) for pid in workers}
        wall, latencies = run(port, method, targets, clients)
        after = tree_cpu(server) if server else None
        split = worker_split(per_worker, {pid: cpu_seconds(pid) for pid in workers})
        report(name, method, wall, latencies, (after[0] - before[0], after[1] - before[1]) if after else None,
               split)


def in_process(settings, base_path: str, port: int, akid: str, secret: str, count: int) -> None:
    """The gateway app called directly (no HTTP server, one thread): its own CPU time per request."""
    import io

    from ticketbooth.gateway.app import create_gateway_app

    app = create_gateway_app(settings)

    def environ(method: str, key: str) -> dict:
        parts = urlsplit(presign(method, f"http://127.0.0.1:{port}{base_path}/{key}", akid, secret))
        return {"REQUEST_METHOD": method, "PATH_INFO": parts.path, "QUERY_STRING": parts.query,
                "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(port), "HTTP_HOST": f"127.0.0.1:{port}",
                "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
                "wsgi.errors": sys.stderr, "wsgi.input": io.BytesIO(BODY if method == "PUT" else b""),
                "CONTENT_LENGTH": str(len(BODY)) if method == "PUT" else ""}

    def call(env: dict) -> None:
        body = app(env, lambda status, headers, exc_info=None: None)
        for _ in body:
            pass
        getattr(body, "close", lambda: None)()

    for method in ("PUT", "GET", "HEAD"):
        envs = [environ(method, f"obj-{n % 64:03d}") for n in range(count + count // 10)]
        for env in envs[count:]:  # warm-up
            call(env)
        started = time.thread_time()
        for env in envs[:count]:
            call(env)
        print(f"{'in process':10} {method:5} app CPU {(time.thread_time() - started) / count * 1e6:5.0f} us/req "
              f"(one thread, no server)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tb-small")
    parser.add_argument("--requests", type=int, default=2000, help="requests per operation")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limited", action="store_true",
                        help="also measure a ticket with a (never reached) uses limit: every use counted at once")
    parser.add_argument("--no-seaweedfs", action="store_true")
    parser.add_argument("--use-window", type=float,
                        help="the gateway's s3.use_window (default: its own, 10 s; 0 counts every request's use)")
    parser.add_argument("--floor", action="store_true",
                        help="also measure a WSGI app that only answers (gunicorn gthread, the gateway's workers and "
                             "threads)")
    parser.add_argument("--workers", type=int, help="gateway worker processes (default: ticketbooth gateway's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: ticketbooth gateway's)")
    parser.add_argument("--in-process", action="store_true",
                        help="also call the gateway app directly, without a server: its own CPU time per request")
    args = parser.parse_args()

    work, config, api_port, gw_port = fresh_embedded_config(args.workdir)
    settings = load_settings(config, environ={})
    env = {"TICKETBOOTH_CONFIG": str(config)}
    api = start("ticketbooth.wsgi:app", api_port, env, work / "api.log", workers=1, threads=4)
    command = [str(Path(sys.executable).with_name("ticketbooth")), "gateway", "--config", str(config),
               "--port", str(gw_port)]
    for flag in ("workers", "threads"):
        if getattr(args, flag) is not None:
            command += [f"--{flag}", str(getattr(args, flag))]
    window = {} if args.use_window is None else {"TICKETBOOTH_S3__USE_WINDOW": str(args.use_window)}
    gateway = launch(command, gw_port, {**env, **window}, work / "gateway.log")
    processes = [gateway, api]
    try:
        token = issue_dev_token(settings, "alice", False, datetime.now(UTC))
        headers = {"Authorization": f"Bearer {token}"}
        workers = len(worker_pids(gateway.pid))
        print(f"{os.cpu_count()} CPUs; gateway: ticketbooth gateway {' '.join(command[6:])} ({workers} workers, "
              f"use window {settings.s3.use_window if args.use_window is None else args.use_window} s); "
              f"{args.clients} clients, {args.requests} requests per operation, 4 KiB objects")
        limits = [0] + ([10**9] if args.limited else [])
        for limit in limits:
            name = f"ds-{limit}"
            (work / "data" / "zone" / "tempZone" / "home" / "alice" / name).mkdir(mode=0o700)
            made = requests.post(f"http://127.0.0.1:{api_port}/v1/tickets", timeout=30, headers=headers,
                                 json={"path": f"/tempZone/home/alice/{name}", "access": "write",
                                       **({"uses_limit": limit} if limit else {})}).json()["credentials"]
            label = "gw limited" if limit else "gateway"
            measure(label, gw_port, f"/{made['bucket']}", made["access_key_id"], made["secret_access_key"],
                    args.requests, args.clients, gateway.pid)
            if args.in_process and not limit:
                in_process(settings, f"/{made['bucket']}", gw_port, made["access_key_id"], made["secret_access_key"],
                           args.requests)
        if args.floor:
            floor_port = free_port()
            floor = start("bench_small:floor_app", floor_port, {"PYTHONPATH": str(Path(__file__).resolve().parent)},
                          work / "floor.log", workers=args.workers or usable_cpus(),
                          threads=args.threads or GATEWAY_THREADS)
            processes.append(floor)
            measure("wsgi floor", floor_port, "/floor", "any", "any", args.requests, args.clients, floor.pid)
        if not args.no_seaweedfs:
            weed, s3_port = start_seaweedfs(work)
            processes.append(weed)
            requests.put(f"http://127.0.0.1:{s3_port}/small", timeout=30).raise_for_status()
            measure("seaweedfs", s3_port, "/small", "any", "any", args.requests, args.clients, weed.pid)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
