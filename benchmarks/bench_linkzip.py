"""``?download=zip`` on a link: the streamed zip (ticketbooth.gateway.ziparchive.stream_zip) against zipfile
writing the same members the ordinary way (to a seekable file, same compression), and peak memory.

    python benchmarks/bench_linkzip.py            # --mib 64 --files 16 --repeat 3

Members are read from real files in a temporary directory (as the embedded backend's open_read does), half
random bytes (incompressible, like images) and half CSV-like text.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

from ticketbooth.gateway.ziparchive import ZipMember, stream_zip


def make_files(root: Path, mib: int, count: int) -> list[Path]:
    size = mib * 1024 * 1024 // count
    files = []
    for index in range(count):
        path = root / f"f{index:03d}.{'bin' if index % 2 else 'csv'}"
        if index % 2:
            path.write_bytes(os.urandom(size))
        else:
            line = b"2026-11-30T12:00:00Z,sensor-%03d,23.5,0.001,ok\n" % index
            path.write_bytes((line * (size // len(line) + 1))[:size])
        files.append(path)
    return files


def run_stream(files: list[Path]) -> int:
    members = [ZipMember(p.name, p.stat().st_size, None, lambda p=p: open(p, "rb")) for p in files]
    return sum(len(chunk) for chunk in stream_zip(members))


def run_reference(files: list[Path], target: Path) -> int:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in files:
            archive.write(path, path.name)
    return target.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), args.mib, args.files)
        total = sum(p.stat().st_size for p in files)
        best_stream = best_ref = float("inf")
        for _ in range(args.repeat):  # interleaved, so load from other work hits both alike
            start = time.perf_counter()
            streamed = run_stream(files)
            best_stream = min(best_stream, time.perf_counter() - start)
            start = time.perf_counter()
            written = run_reference(files, Path(tmp) / "ref.zip")
            best_ref = min(best_ref, time.perf_counter() - start)
        tracemalloc.start()
        run_stream(files)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    mib = total / 2**20
    print(f"input: {mib:.0f} MiB in {args.files} files")
    print(f"stream_zip: {mib / best_stream:.1f} MiB/s ({streamed / 2**20:.1f} MiB archive)")
    print(f"zipfile to a seekable file: {mib / best_ref:.1f} MiB/s ({written / 2**20:.1f} MiB archive)")
    print(f"ratio stream/reference: {best_ref / best_stream:.2f}")
    print(f"peak traced memory while streaming: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
