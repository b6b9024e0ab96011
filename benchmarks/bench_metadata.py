"""What keeping S3 object metadata costs: HEAD and small PUTs through the in-process gateway (embedded backend),
an object with a full set of metadata (six system headers, eight x-amz-meta-*) against the same request for an
object without any, interleaved in the same run; plus an in-place CopyObject (rclone's mtime repair) against a
PUT of the same small object.

    python benchmarks/bench_metadata.py            # --number 2000 --repeat 5

Every request is SigV4 header-signed by botocore before timing starts (signing is not what is measured) and run
through the WSGI app directly, so the figures are the gateway's own cost per request: verify, decide (one use
counted in SQLite), backend stat/write, headers.
"""
from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.gateway.app import create_gateway_app
from ticketbooth.model import Access, Actor, TicketSpec
from ticketbooth.resolver import KeyResolver
from ticketbooth.settings import GatewaySettings, S3Settings, Settings

HOST = "127.0.0.1:9000"
META = {"Content-Type": "text/csv", "Cache-Control": "max-age=60", "Content-Disposition": "inline",
        "Content-Encoding": "identity", "Content-Language": "en", "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
        **{f"x-amz-meta-k{i}": f"value-{i}" for i in range(7)}, "x-amz-meta-mtime": "1700000000.123456789"}


def environ(method: str, uri: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    path, _, query = uri.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query, "RAW_URI": uri,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "9000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return env


def signed(method: str, uri: str, akid: str, secret: str, body: bytes = b"", extra: dict[str, str] | None = None,
           ) -> tuple[str, str, dict[str, str], bytes]:
    request = AWSRequest(method=method, url=f"http://{HOST}{uri}", data=body, headers=dict(extra or {}))
    S3SigV4Auth(Credentials(akid, secret), "s3", "us-east-1").add_auth(request)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers.setdefault("Host", HOST)
    return method, uri, headers, body


def call(app: Any, request: tuple[str, str, dict[str, str], bytes]) -> int:
    method, uri, headers, body = request
    status: list[int] = []
    result = app(environ(method, uri, headers, body), lambda s, h, e=None: status.append(int(s[:3])))
    try:
        for _ in result:
            pass
    finally:
        getattr(result, "close", lambda: None)()
    return status[0]


def median_us(app: Any, requests: list, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for request in requests:
            assert call(app, request) in (200, 204), request[:2]
        runs.append((time.perf_counter() - started) / len(requests) * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key = "bench-master-key-" + "m" * 32
        settings = Settings(data_dir=tmp, s3=S3Settings(master_key=key, key_cache_ttl=60), gateway=GatewaySettings())
        backend = EmbeddedBackend(tmp, "tempZone", users=("alice",), master_key=key)
        home = "/tempZone/home/alice"
        backend.put_object(f"{home}/ds/plain.csv", b"a,b\n1,2\n")
        now = datetime.now(UTC)
        ticket = backend.create_ticket(Actor("alice"), TicketSpec(path=f"{home}/ds", access=Access.WRITE,
                                                                  users=("alice",)), now=now)
        app = create_gateway_app(settings, backend=backend)
        akid, secret = KeyResolver(backend, backend.master_key(), ttl=60).mint(ticket, "alice")
        bucket = f"/ticket-{ticket.id}"
        assert call(app, signed("PUT", f"{bucket}/meta.csv", akid, secret, b"a,b\n1,2\n", META)) == 200
        n = args.number
        cases = {
            "HEAD, no metadata": [signed("HEAD", f"{bucket}/plain.csv", akid, secret) for _ in range(n)],
            "HEAD, 14 metadata headers": [signed("HEAD", f"{bucket}/meta.csv", akid, secret) for _ in range(n)],
            "PUT 8 B, no metadata": [signed("PUT", f"{bucket}/p/{i}", akid, secret, b"a,b\n1,2\n") for i in range(n)],
            "PUT 8 B, 14 metadata headers": [signed("PUT", f"{bucket}/q/{i}", akid, secret, b"a,b\n1,2\n", META)
                                             for i in range(n)],
            "CopyObject onto itself, REPLACE": [signed(
                "PUT", f"{bucket}/meta.csv", akid, secret, b"",
                {**META, "x-amz-copy-source": f"{bucket}/meta.csv", "x-amz-metadata-directive": "REPLACE"})
                for _ in range(n)],
        }
        results = {name: [] for name in cases}
        for _ in range(args.repeat):  # interleaved, so load from other processes hits every case alike
            for name, requests in cases.items():
                results[name].append(median_us(app, requests[: n // args.repeat or 1], 1))
        for name, values in results.items():
            print(f"{name:34s} {statistics.median(values):8.1f} µs/request")
        backend.close()


if __name__ == "__main__":
    main()
