"""The use window (``s3.use_window``): a key pair's requests that follow each other within the window are one use
of its ticket, decided inside the catalogue's write transaction, so a limit is never overshot by threads or
processes sharing the catalogue."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ticketbooth import policy

from . import _race, _window_race
from .conformance import UseWindowTests
from .test_embedded import EmbeddedFixtures


def test_continues_use_is_a_gap_rule():
    def t(seconds: float = 0) -> datetime:
        return datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=seconds)

    assert not policy.continues_use(None, t(), 60)
    assert policy.continues_use(t(), t(60), 60)
    assert not policy.continues_use(t(), t(60.001), 60)
    assert policy.continues_use(t(30), t(), 60)  # another instance's clock ahead of ours
    assert not policy.continues_use(t(), t(), 0)


class TestEmbeddedUseWindow(UseWindowTests, EmbeddedFixtures):
    def test_processes_sharing_the_catalogue_never_overshoot(self, backend, data_dir, clock, alice, ds1):
        holders = ["alice", "bob", "carol"]
        ticket = self.create(backend, clock, alice, ds1, users=holders, uses_limit=2)
        when = clock().timestamp()
        won = _race.in_processes(_window_race.race_in_window,
                                 lambda n: (data_dir, ticket.id, holders[n:] + holders[:n], when), timeout=60)
        # Every process saw the same two holders admitted; never a third use.
        assert len({frozenset(w) for w in won}) == 1 and len(won[0]) == 2
        assert backend.find_ticket(ticket.id).uses_count == 2
