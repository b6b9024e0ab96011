"""Benchmark of ticketbooth.sigv4 against reference implementations, in the same run.

1. Header-signed GET with 4 signed headers (host, range, x-amz-content-sha256, x-amz-date):
   median time of ``verify`` vs botocore ``S3SigV4Auth.add_auth`` signing the same request.
   Target: verify <= 1/3 of botocore's time.
2. aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) verification of a 256 MiB body in 64 KiB
   chunks, read with shutil.copyfileobj, vs plain hashlib.sha256 over the same payload bytes read
   from the same kind of source. Target: >= 0.80 of sha256's throughput; peak traced memory
   flat in body size.

Run: python benchmarks/bench_sigv4.py [--mib 256] [--repeat 5]
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import math
import shutil
import statistics
import sys
import time
import timeit
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from ticketbooth.sigv4 import verify  # noqa: E402
from ticketbooth.sigv4.signing import derive_signing_key  # noqa: E402
from ticketbooth.sigv4.streaming import AwsChunkedBody, BodySource  # noqa: E402

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime(2013, 5, 24, tzinfo=UTC)
STAMP, SCOPE = "20130524T000000Z", "20130524/us-east-1/s3/aws4_request"
EMPTY = hashlib.sha256(b"").hexdigest()
CHUNK = 64 * 1024


def bench_header(number: int, repeat: int) -> tuple[float, float]:
    credentials = Credentials(KEY, SECRET)
    url = "https://examplebucket.s3.amazonaws.com/photos/test.txt"

    def new_request() -> AWSRequest:
        return AWSRequest("GET", url, headers={"Range": "bytes=0-9", "X-Amz-Content-SHA256": EMPTY})

    def sign() -> None:
        S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(new_request())

    signed = new_request()
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(signed)
    headers = [(k, v) for k, v in signed.headers.items()] + [("Host", "examplebucket.s3.amazonaws.com")]
    assert signed.headers["Authorization"].count(";") == 3  # 4 signed headers
    now = datetime.strptime(signed.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    secrets = {KEY: SECRET}.get

    def check() -> None:
        verify("GET", "/photos/test.txt", "", headers, b"", secrets, now=now)

    check()
    sign()
    # Interleave the two so that load from other processes hits both alike.
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(timeit.timeit(check, number=number) / number)
        theirs.append(timeit.timeit(sign, number=number) / number)
    return statistics.median(ours), statistics.median(theirs)


class Segments:
    """A readable source serving pre-built segments (framing and payload) without copying them.

    It stands for a socket/WSGI input that hands over data as it arrives; both the verifier and
    the sha256 baseline read through the same class.
    """

    def __init__(self, segments):
        self._segments = iter(segments)
        self._current = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        while self._offset >= len(self._current):
            nxt = next(self._segments, None)
            if nxt is None:
                return b""
            self._current, self._offset = nxt, 0
        start = self._offset
        if start == 0 and size >= len(self._current):
            self._offset = len(self._current)
            return self._current
        end = min(len(self._current), start + size)
        self._offset = end
        return self._current[start:end]


def chunk_signatures(key: bytes, payload: bytes, count: int, seed: str) -> list[bytes]:
    digest = hashlib.sha256(payload).hexdigest()
    import hmac

    out, previous = [], seed
    for _ in range(count):
        previous = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", STAMP, SCOPE, previous, EMPTY, digest]).encode(),
                            hashlib.sha256).hexdigest()
        out.append(previous.encode())
    final = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", STAMP, SCOPE, previous, EMPTY, EMPTY]).encode(),
                     hashlib.sha256).hexdigest()
    out.append(final.encode())
    return out


def framed(payload: bytes, signatures: list[bytes]):
    header = b"%x;chunk-signature=" % len(payload)
    for signature in signatures[:-1]:
        yield header + signature + b"\r\n"
        yield payload
        yield b"\r\n"
    yield b"0;chunk-signature=" + signatures[-1] + b"\r\n\r\n"


class Sink:
    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)


def decode(payload: bytes, signatures: list[bytes], key: bytes, seed: str, read_size: int = CHUNK) -> int:
    count = len(signatures) - 1
    stream = AwsChunkedBody(BodySource(Segments(framed(payload, signatures)), None), decoded_length=len(payload) * count,
                            signing_key=key, amz_date=STAMP, scope=SCOPE, seed_signature=seed)
    sink = Sink()
    shutil.copyfileobj(stream, sink, read_size)
    return sink.size


def baseline(payload: bytes, count: int, read_size: int = CHUNK) -> int:
    source = Segments(payload for _ in range(count))
    hasher = hashlib.sha256()
    size = 0
    while True:
        data = source.read(read_size)
        if not data:
            break
        hasher.update(data)
        size += len(data)
    hasher.hexdigest()
    return size


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory(payload: bytes, key: bytes, seed: str, mib: int) -> int:
    count = mib * 1024 * 1024 // CHUNK
    signatures = chunk_signatures(key, payload, count, seed)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    decode(payload, signatures, key, seed)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()

    verify_s, botocore_s = bench_header(args.number, args.repeat)
    print("header-signed GET, 4 signed headers")
    print(f"  verify                      {verify_s * 1e6:8.1f} us (median)")
    print(f"  botocore S3SigV4Auth.add_auth {botocore_s * 1e6:6.1f} us (median)")
    print(f"  ratio verify/botocore       {verify_s / botocore_s:8.3f}   target <= 0.333")

    payload = bytes(range(256)) * (CHUNK // 256)
    count = args.mib * 1024 * 1024 // CHUNK
    key = derive_signing_key(SECRET, "20130524", "us-east-1", "s3")
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    signatures = chunk_signatures(key, payload, count, seed)  # the client's work, not timed
    assert decode(payload, signatures, key, seed) == len(payload) * count
    size_mib = len(payload) * count / 2**20
    print(f"aws-chunked {size_mib:.0f} MiB in 64 KiB chunks (signed chain)")
    for read_size in (CHUNK, 1024 * 1024):
        # Interleaved, best of each, so that load from other processes hits both alike.
        chunked_s, sha_s = math.inf, math.inf
        for _ in range(args.repeat):
            chunked_s = min(chunked_s, best_of(lambda r=read_size: decode(payload, signatures, key, seed, r), 1))
            sha_s = min(sha_s, best_of(lambda r=read_size: baseline(payload, count, r), 1))
        print(f"  consumer reads {read_size // 1024:5d} KiB: verify+decode {size_mib / chunked_s:7.1f} MiB/s, "
              f"hashlib.sha256 {size_mib / sha_s:7.1f} MiB/s, fraction {sha_s / chunked_s:.3f}   target >= 0.85")
    small, large = peak_memory(payload, key, seed, 16), peak_memory(payload, key, seed, args.mib)
    print(f"  peak traced memory          {small / 1024:8.0f} KiB at 16 MiB, {large / 1024:.0f} KiB at {args.mib} MiB")


if __name__ == "__main__":
    main()
