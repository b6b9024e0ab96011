"""Benchmark the gateway over the iRODS backend on a real zone, each figure against its reference in the same run.

1. **Listings** (``--listing``): ListObjectsV2 pages of 1,000 keys through the gateway: the first and the last page
   of a 10,000-object collection and the first page of a 1,000-object collection (median of ``--repeat``
   interleaved requests). Bar: within 1.5x of each other (a page costs what a page costs, wherever it starts).
2. **Throughput** (``--throughput``): GET and PUT of one ``--mib`` MiB object, and 4 KiB GETs and PUTs from
   ``--clients`` concurrent clients, through the gateway (its production defaults: ``ticketbooth gateway``,
   gunicorn, use window 10 s, key cache 5 s) against python-irodsclient's own ``open()``/``read()``/``write()``
   on the same zone (the reference: what any Python client of iRODS gets).

Everything lives under the home of a user of the benchmark's own (``tbbench``, created when missing) in a fresh
``tb-bench-<random>`` collection (the 11,000 listed objects are empty files registered in one request, a few
seconds), and is deleted at the end with the ticket and the state collection. Needs ``TICKETBOOTH_TEST_IRODS_*`` (docs/irods.md).

Run from the repository root:  python benchmarks/bench_irods.py [--listing] [--throughput] [--mib 256] [--clients 4]
[--no-verify]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import free_port, launch, signed_headers, stop_all  # noqa: E402 - the shared loopback helpers

from ticketbooth.backends.irods import IrodsBackend  # noqa: E402
from ticketbooth.model import Access, Actor, TicketSpec  # noqa: E402
from ticketbooth.resolver import KeyResolver  # noqa: E402
from ticketbooth.settings import load_settings  # noqa: E402

MiB = 1024 * 1024
USER = "tbbench"
ENV = {name: os.environ.get(f"TICKETBOOTH_TEST_IRODS_{name}", "") for name in ("HOST", "PORT", "ZONE", "USER",
                                                                                 "PASSWORD")}
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>")


def session(**extra):
    from irods.session import iRODSSession

    return iRODSSession(host=ENV["HOST"], port=int(ENV["PORT"]), user=ENV["USER"], password=ENV["PASSWORD"],
                        zone=ENV["ZONE"], **extra)


def as_user():
    return session(client_user=USER, client_zone=ENV["ZONE"])


def seed(collection: str, count: int, work: Path) -> float:
    """``count`` empty objects ``k00000``... in ``collection``, the seconds it took: files made here and registered
    in one request (``ireg -C``: the zone runs on this machine and reads them in place; registering needs the
    service account, which is given ownership of the benchmark's collection for it)."""
    started = time.perf_counter()
    directory = work / "seed" / Path(collection).name
    directory.mkdir(parents=True)
    for index in range(count):
        (directory / f"k{index:05d}").touch()
    for path in (work, work / "seed", directory):
        path.chmod(0o755)  # the zone's service user reads them
    from irods import keywords as kw

    with session() as admin:
        admin.data_objects.register(str(directory), collection, **{kw.COLLECTION_KW: ""})
    return time.perf_counter() - started


class Gateway:
    """``ticketbooth gateway`` on loopback over the zone, and the in-process backend that issues its ticket."""

    def __init__(self, work: Path, root: str, *, verify_checksum: bool = True) -> None:
        self.port = free_port()
        state = f"/{ENV['ZONE']}/home/{ENV['USER']}/{Path(root).name}-state"
        self.config = work / "ticketbooth.toml"
        master = uuid.uuid4().hex * 2
        self.config.write_text(
            f'data_dir = "{work / "data"}"\nlog_level = "WARNING"\nbackend = "irods"\n'
            f'[s3]\nendpoint_url = "http://127.0.0.1:{self.port}"\nmaster_key = "{master}"\n'
            f'[irods]\nhost = "{ENV["HOST"]}"\nport = {int(ENV["PORT"])}\nzone = "{ENV["ZONE"]}"\n'
            f'user = "{ENV["USER"]}"\npassword = "{ENV["PASSWORD"]}"\nservice_hosts = ["127.0.0.1"]\n'
            f'state_collection = "{state}"\nverify_checksum = {str(verify_checksum).lower()}\n')
        self.settings = load_settings(self.config, environ={})
        self.state = state
        self.backend = IrodsBackend.from_settings(self.settings)
        self.ticket = self.backend.create_ticket(Actor(USER), TicketSpec(path=root, access=Access.WRITE,
                                                                        users=(USER,)), now=datetime.now(UTC))
        self.akid, self.secret = KeyResolver(self.backend, self.settings.s3.master_key.encode()).mint(
            self.ticket, USER)
        self.bucket = f"ticket-{self.ticket.id}"
        self.process = launch([str(Path(sys.executable).with_name("ticketbooth")), "gateway", "--config",
                               str(self.config), "--port", str(self.port)], self.port,
                              {"TICKETBOOTH_CONFIG": str(self.config)}, work / "gateway.log")
        time.sleep(2.1)  # a ticket as requests usually meet it: not changed in the last seconds

    def url(self, key: str = "", query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{self.bucket}/{quote(key)}" + (f"?{query}" if query else "")

    def presign(self, method: str, key: str) -> str:
        request = AWSRequest(method=method, url=self.url(key))
        S3SigV4QueryAuth(Credentials(self.akid, self.secret), "s3", "us-east-1", expires=3600).add_auth(request)
        return request.url

    def close(self) -> None:
        stop_all([self.process])
        self.backend.delete_ticket(Actor(USER), self.ticket.id)
        self.backend.close()
        with session() as admin:
            if admin.collections.exists(self.state):
                admin.collections.remove(self.state, recurse=True, force=True)


# -- 1. listings -----------------------------------------------------------------------------------------------

def page(gateway: Gateway, prefix: str, token: str | None) -> tuple[bytes, float]:
    query = f"list-type=2&max-keys=1000&prefix={quote(prefix, safe='')}"
    if token:
        query += f"&continuation-token={quote(token, safe='')}"
    url = f"http://127.0.0.1:{gateway.port}/{gateway.bucket}?{query}"
    headers = signed_headers("GET", url, gateway.akid, gateway.secret)
    started = time.perf_counter()
    response = requests.get(url, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"listing answered {response.status_code}: {response.content[:300]!r}")
    return response.content, elapsed


def listing(gateway: Gateway, repeat: int) -> None:
    tokens: list[str | None] = [None]
    page(gateway, "none/", None)  # the process's own first request: connections, the ticket's full read
    cold = {name: page(gateway, prefix, None)[1] * 1000 for name, prefix in (("big", "big/"), ("small", "small/"))}
    started = time.perf_counter()
    while True:
        body, _ = page(gateway, "big/", tokens[-1])
        match = _TOKEN.search(body)
        if not match:
            break
        tokens.append(match.group(1).decode())
    full = time.perf_counter() - started
    body, _ = page(gateway, "big/", tokens[-1])
    assert body.count(b"<Key>") == 1000 and b"big/k09999" in body, "the last page holds the last 1,000 keys"
    first, last, small = [], [], []
    for _ in range(repeat):  # interleaved: load from elsewhere hits all three alike
        first.append(page(gateway, "big/", None)[1])
        last.append(page(gateway, "big/", tokens[-1])[1])
        small.append(page(gateway, "small/", None)[1])
    ms = {name: statistics.median(samples) * 1000 for name, samples in
          (("first", first), ("last", last), ("small", small))}
    worst = max(ms.values()) / min(ms.values())
    print(f"listing, 1,000-key pages (median of {repeat}): 10,000 objects first page {ms['first']:.0f} ms, last page "
          f"{ms['last']:.0f} ms; 1,000 objects first page {ms['small']:.0f} ms; largest/smallest {worst:.2f} "
          f"(bar <= 1.5); all {len(tokens)} pages of the 10,000 in {full:.1f} s; the first listing of each collection "
          f"in the gateway process (no batch ends known yet): {cold['big']:.0f} ms (10,000), {cold['small']:.0f} ms "
          f"(1,000)")


# -- 2. throughput -------------------------------------------------------------------------------------------

def mib_per_s(size: int, seconds: float) -> float:
    return size / MiB / seconds


def big(gateway: Gateway, root: str, mib: int, work: Path) -> None:
    size = mib * MiB
    source = work / "big.bin"
    block = os.urandom(MiB)
    with open(source, "wb") as handle:
        for _ in range(mib):
            handle.write(block)
    digest = hashlib.md5(source.read_bytes()).hexdigest()
    rows = []
    for round_ in range(2):
        # Reference: python-irodsclient as the owner, 1 MiB writes and reads, as the gateway stores and reads.
        with as_user() as owner:
            started = time.perf_counter()
            with open(source, "rb") as data, owner.data_objects.open(f"{root}/ref-{round_}.bin", "w") as handle:
                while chunk := data.read(MiB):
                    handle.write(chunk)
            ref_put = time.perf_counter() - started
            started = time.perf_counter()
            with owner.data_objects.open(f"{root}/ref-{round_}.bin", "r") as handle:
                while handle.read(MiB):
                    pass
            ref_get = time.perf_counter() - started
        key = f"gw-{round_}.bin"
        started = time.perf_counter()
        with open(source, "rb") as data:
            response = requests.put(gateway.presign("PUT", key), data=data, headers={"Content-Length": str(size)},
                                    timeout=600)
        gw_put = time.perf_counter() - started
        assert response.status_code == 200 and response.headers["ETag"].strip('"') == digest, response.text
        started = time.perf_counter()
        got = 0
        with requests.get(gateway.presign("GET", key), stream=True, timeout=600) as response:
            for chunk in response.iter_content(MiB):
                got += len(chunk)
        gw_get = time.perf_counter() - started
        assert got == size
        rows.append((gw_get, ref_get, gw_put, ref_put))
    gw_get, ref_get, gw_put, ref_put = (min(column) for column in zip(*rows, strict=True))
    print(f"{mib} MiB GET: gateway {mib_per_s(size, gw_get):.0f} MiB/s, python-irodsclient "
          f"{mib_per_s(size, ref_get):.0f} MiB/s = {ref_get / gw_get:.2f}x (best of 2)")
    print(f"{mib} MiB PUT: gateway {mib_per_s(size, gw_put):.0f} MiB/s, "
          f"python-irodsclient {mib_per_s(size, ref_put):.0f} MiB/s (no checksum) = {ref_put / gw_put:.2f}x")


def small(gateway: Gateway, root: str, clients: int, count: int) -> None:
    payload = os.urandom(4096)
    with as_user() as owner:
        for index in range(clients):
            with owner.data_objects.open(f"{root}/small4k-{index}.bin", "w") as handle:
                handle.write(payload)

    def gateway_client(index: int, method: str) -> int:
        key = f"small4k-{index}.bin" if method == "GET" else f"put4k-{index}.bin"
        url = urlsplit(gateway.presign(method, key))
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        for _ in range(count):
            connection.request(method, f"{url.path}?{url.query}", body=payload if method == "PUT" else None)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200 and (method == "PUT" or body == payload), response.status
        connection.close()
        return count

    def reference_client(index: int, method: str) -> int:
        with as_user() as owner:
            for _ in range(count):
                if method == "GET":
                    with owner.data_objects.open(f"{root}/small4k-{index}.bin", "r") as handle:
                        assert handle.read() == payload
                else:
                    with owner.data_objects.open(f"{root}/ref4k-{index}.bin", "w") as handle:
                        handle.write(payload)
        return count

    for method in ("GET", "PUT"):
        rates = {}
        for name, client in (("gateway", gateway_client), ("python-irodsclient", reference_client)):
            client(0, method)  # warm: key cache, use window, connections
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                done = sum(pool.map(lambda i, c=client, m=method: c(i, m), range(clients)))
            rates[name] = done / (time.perf_counter() - started)
        print(f"4 KiB {method}, {clients} clients: gateway {rates['gateway']:.0f}/s, python-irodsclient "
              f"{rates['python-irodsclient']:.0f}/s = {rates['gateway'] / rates['python-irodsclient']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listing", action="store_true", help="only the listing figures")
    parser.add_argument("--throughput", action="store_true", help="only the throughput figures")
    parser.add_argument("--mib", type=int, default=256, help="size of the big object (default 256)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for 4 KiB requests (default 4)")
    parser.add_argument("--count", type=int, default=100, help="4 KiB requests per client (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="listing requests per figure (default 7)")
    parser.add_argument("--no-verify", action="store_true",
                        help="irods.verify_checksum = false: TicketBooth registers the MD5, iRODS does not re-read")
    args = parser.parse_args()
    if not all(ENV.values()):
        raise SystemExit("set TICKETBOOTH_TEST_IRODS_HOST/PORT/ZONE/USER/PASSWORD (docs/irods.md)")
    both = not (args.listing or args.throughput)
    from irods.models import User

    with session() as admin:
        if not admin.query(User.name).filter(User.name == USER).all():
            admin.users.create(USER, "rodsuser")
    root = f"/{ENV['ZONE']}/home/{USER}/tb-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tb-bench-irods-") as tmp:
        work = Path(tmp)
        gateway = None
        try:
            from irods.access import iRODSAccess

            with as_user() as owner:
                owner.collections.create(root)
            with session() as admin:
                admin.acls.set(iRODSAccess("own", root, ENV["USER"]), admin=True)
            if both or args.listing:
                seconds = seed(f"{root}/big", 10_000, work) + seed(f"{root}/small", 1_000, work)
                print(f"seeded 11,000 objects in {seconds:.1f} s", flush=True)
            gateway = Gateway(work, root, verify_checksum=not args.no_verify)
            print(f"irods.verify_checksum = {str(not args.no_verify).lower()}", flush=True)
            if both or args.listing:
                listing(gateway, args.repeat)
            if both or args.throughput:
                big(gateway, root, args.mib, work)
                small(gateway, root, args.clients, args.count)
        finally:
            if gateway is not None:
                gateway.close()
            with session() as admin:  # what the service account registered
                for name in ("big", "small"):
                    if admin.collections.exists(f"{root}/{name}"):
                        admin.collections.remove(f"{root}/{name}", recurse=True, force=True)
            with as_user() as owner:
                if owner.collections.exists(root):
                    owner.collections.remove(root, recurse=True, force=True)


if __name__ == "__main__":
    main()
