"""Workers for the multi-process races on a ticket's limits (importable by spawned processes)."""
from __future__ import annotations

import io
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.errors import TicketExhausted, TicketWriteBytesExceeded, TicketWriteFilesExceeded


def in_processes(target: Callable[..., None], args: Callable[[int], Sequence[object]], processes: int = 3,
                 *, threads: int | None = None, timeout: float = 120) -> list[object]:
    """Run ``target(*args(n), start, results[, threads])`` in ``processes`` spawned processes released together by
    one barrier; what each put on ``results``. Fails the test unless every process exits cleanly."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    extra = () if threads is None else (threads,)
    workers = [context.Process(target=target, args=(*args(n), start, results, *extra)) for n in range(processes)]
    for worker in workers:
        worker.start()
    try:
        reported = [results.get(timeout=timeout) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=timeout)
        results.close()
        results.join_thread()
    assert [w.exitcode for w in workers] == [0] * processes
    return reported


def _threads(attempts: int, threads: int, start, attempt) -> int:
    """Run ``attempt(n)`` ``attempts`` times on each of ``threads`` threads after ``start``; the wins."""
    won, lock = [0], threading.Lock()

    def worker(first: int) -> None:
        mine = sum(1 for n in range(first, first + attempts) if attempt(n))
        with lock:
            won[0] += mine

    pool = [threading.Thread(target=worker, args=(t * attempts,)) for t in range(threads)]
    start.wait()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return won[0]


def race_for_uses(data_dir: str, ticket_id: int, attempts: int, start, results, threads: int = 1) -> None:
    """Open its own backend on ``data_dir``, wait for ``start``, try ``attempts`` sessions on each of
    ``threads`` threads (concurrent uses share group commits); report the successes."""
    backend = EmbeddedBackend(data_dir)
    try:
        ticket = backend.find_ticket(ticket_id)

        def attempt(_: int) -> bool:
            try:
                backend.open_session(ticket, "alice", client_host=None, now=datetime.now(UTC)).close()
            except TicketExhausted:
                return False
            return True

        results.put(_threads(attempts, threads, start, attempt))
    finally:
        backend.close()


def race_for_writes(data_dir: str, ticket_id: int, collection: str, tag: str, attempts: int, start, results,
                    threads: int = 1) -> None:
    """As :func:`race_for_uses`, each attempt writing a 10-byte object ``<collection>/<tag>-<n>``."""
    backend = EmbeddedBackend(data_dir)
    try:
        ticket = backend.find_ticket(ticket_id)

        def attempt(n: int) -> bool:
            with backend.open_session(ticket, "alice", client_host=None, now=datetime.now(UTC)) as session:
                try:
                    session.write(f"{collection}/{tag}-{n}", io.BytesIO(b"0123456789"), size=10)
                except (TicketWriteFilesExceeded, TicketWriteBytesExceeded):
                    return False
            return True

        results.put(_threads(attempts, threads, start, attempt))
    finally:
        backend.close()
