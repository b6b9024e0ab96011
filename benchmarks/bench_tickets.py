"""Benchmark the embedded backend's ticket catalogue at 10, 10,000 and 100,000 tickets.

For each size a fresh data directory is bulk-seeded (straight through the catalogue, in one transaction, owners
spread over four users), then the *public* backend methods are timed: ``create_ticket``, ``list_tickets`` (the
first page and a deep page reached by cursor, 100 tickets a page), ``get_ticket`` and ``delete_ticket``
(revoke). The reference in the same run is OFFSET paging (``LIMIT 100 OFFSET k`` on the same table and index),
the usual alternative to cursors, which gets slower the deeper the page. Page time must stay flat as the count
grows.

Run from the repository root (package installed, or PYTHONPATH=.):
    python benchmarks/bench_tickets.py [--sizes 10,10000,100000] [--repeat 200] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import string
import sys
import tempfile
import time
from datetime import UTC, datetime

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.backends.embedded.backend import encode_cursor
from ticketbooth.backends.embedded.catalog import _COLUMNS
from ticketbooth.model import Access, Actor, TargetKind, Ticket, TicketQuery, TicketSpec

OWNERS = ("alice", "bob", "carol", "dave")
PAGE = 100
ALPHABET = string.ascii_letters + string.digits


def seed(backend: EmbeddedBackend, count: int, now: datetime) -> None:
    """Insert ``count`` tickets in one transaction, round-robin over OWNERS (not timed)."""
    catalog = backend._catalog  # the benchmark's own shortcut; the API never does this
    with catalog.write() as conn:
        for n in range(count):
            owner = OWNERS[n % len(OWNERS)]
            catalog.insert_ticket(conn, Ticket(
                id=0, string="".join(secrets.choice(ALPHABET) for _ in range(15)),
                path=f"/tempZone/home/{owner}/ds1", target_kind=TargetKind.COLLECTION, access=Access.READ,
                owner=owner, users=(owner,), created_at=now, modified_at=now,
            ))


def timed(call, repeat: int) -> tuple[float, float]:
    """Median and 95th percentile in milliseconds over ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(count: int, repeat: int, workdir: str) -> dict[str, tuple[float, float]]:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(dir=workdir) as data_dir:
        backend = EmbeddedBackend(data_dir, users=OWNERS)
        try:
            for owner in OWNERS:
                backend.make_collection(f"/tempZone/home/{owner}/ds1")
            start = time.perf_counter()
            seed(backend, count, now)
            seeded = time.perf_counter() - start
            alice = Actor("alice")
            spec = TicketSpec(path="/tempZone/home/alice/ds1", users=("alice",))
            mine = [t for t in range(1, count + 1) if (t - 1) % len(OWNERS) == 0]  # alice's ids, by construction
            deep_index = max(len(mine) * 9 // 10 - 1, 0)
            deep_cursor = encode_cursor(mine[deep_index]) if len(mine) > 1 else None
            first_page = TicketQuery(limit=PAGE)
            deep_page = TicketQuery(limit=PAGE, cursor=deep_cursor)
            assert backend.list_tickets(alice, first_page).items[0].id == mine[0]
            results = {
                "list first page": timed(lambda: backend.list_tickets(alice, first_page), repeat),
                "list deep page (cursor)": timed(lambda: backend.list_tickets(alice, deep_page), repeat),
            }
            catalog = backend._catalog

            def offset_page(offset: int) -> None:
                # The same query, index and hydration into Ticket objects; only the paging differs.
                with catalog.read() as conn:
                    rows = conn.execute(
                        f"SELECT {_COLUMNS} FROM tickets t WHERE t.owner = ? ORDER BY t.id LIMIT ? OFFSET ?",
                        ("alice", PAGE, offset),
                    ).fetchall()
                    catalog._hydrate(conn, rows)

            results["reference: first page (OFFSET)"] = timed(lambda: offset_page(0), repeat)
            results["reference: deep page (OFFSET)"] = timed(lambda: offset_page(deep_index + 1), repeat)
            results["get"] = timed(lambda: backend.get_ticket(alice, mine[len(mine) // 2]), repeat)
            created: list[int] = []
            results["create"] = timed(lambda: created.append(backend.create_ticket(alice, spec, now=now).id), repeat)
            victims = iter(created)
            results["revoke (delete)"] = timed(lambda: backend.delete_ticket(alice, next(victims)), repeat)
            results["_seed_seconds"] = (seeded, seeded)
            return results
        finally:
            backend.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,10000,100000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--workdir", default=None, help="where the temporary data directories go")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = {size: run(size, args.repeat, args.workdir or tempfile.gettempdir()) for size in sizes}
    measures = [m for m in next(iter(table.values())) if not m.startswith("_")]
    print(f"Embedded backend, {PAGE} tickets a page, median / p95 in ms over {args.repeat} calls "
          f"(Python {sys.version.split()[0]})\n")
    header = "| operation | " + " | ".join(f"{size:,} tickets" for size in sizes) + " |"
    print(header)
    print("|" + " --- |" * (len(sizes) + 1))
    for measure in measures:
        cells = " | ".join(f"{table[s][measure][0]:.3f} / {table[s][measure][1]:.3f}" for s in sizes)
        print(f"| {measure} | {cells} |")
    print("\nbulk seeding (not part of the timings): "
          + ", ".join(f"{s:,} in {table[s]['_seed_seconds'][0]:.2f} s" for s in sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
