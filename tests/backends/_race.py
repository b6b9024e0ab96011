"""A worker for the multi-process race on a uses limit (importable by spawned processes)."""
from __future__ import annotations

from datetime import UTC, datetime

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.errors import TicketExhausted


def race_for_uses(data_dir: str, ticket_id: int, attempts: int, start, results) -> None:
    """Open its own backend on ``data_dir``, wait for ``start``, try ``attempts`` sessions; report successes."""
    backend = EmbeddedBackend(data_dir)
    try:
        ticket = backend.find_ticket(ticket_id)
        start.wait()
        won = 0
        for _ in range(attempts):
            try:
                backend.open_session(ticket, "alice", client_host=None, now=datetime.now(UTC)).close()
                won += 1
            except TicketExhausted:
                pass
        results.put(won)
    finally:
        backend.close()
