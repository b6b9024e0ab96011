"""A worker for the multi-process race on a uses limit under a use window (importable by spawned processes)."""
from __future__ import annotations

from datetime import UTC, datetime

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.errors import TicketExhausted


def race_in_window(data_dir: str, ticket_id: int, holders: list[str], when: float, start, results) -> None:
    """Open its own backend on ``data_dir``, wait for ``start``, open one session per holder at the instant
    ``when`` (a timestamp) with a 60 s window; report the holders that got in."""
    backend = EmbeddedBackend(data_dir)
    try:
        ticket = backend.find_ticket(ticket_id)
        now = datetime.fromtimestamp(when, UTC)
        start.wait()
        won = []
        for holder in holders:
            try:
                backend.open_session(ticket, holder, client_host=None, now=now, window=60).close()
                won.append(holder)
            except TicketExhausted:
                pass
        results.put(won)
    finally:
        backend.close()
