"""The use window (``s3.use_window``): a key pair's requests that follow each other within the window are one use
of its ticket, decided inside the catalogue's write transaction, so a limit is never overshot by threads or
processes sharing the catalogue."""
from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ticketbooth import errors, policy

from . import _window_race
from .conformance import _Helpers
from .test_embedded import EmbeddedFixtures


def test_continues_use_is_a_gap_rule():
    def t(seconds: float = 0) -> datetime:
        return datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=seconds)

    assert not policy.continues_use(None, t(), 60)
    assert policy.continues_use(t(), t(60), 60)
    assert not policy.continues_use(t(), t(60.001), 60)
    assert policy.continues_use(t(30), t(), 60)  # another instance's clock ahead of ours
    assert not policy.continues_use(t(), t(), 0)


class TestUseWindow(_Helpers, EmbeddedFixtures):
    def use(self, backend, ticket, clock, holder="alice", window=60.0):
        backend.open_session(ticket, holder, client_host=None, now=clock(), window=window).close()

    def test_requests_within_the_window_are_one_use(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=3)
        for gap in (0, 30, 59, 60):  # each gap measured from the previous request: a sliding window
            clock.advance(gap)
            self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 1
        clock.advance(61)
        self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 2

    def test_zero_window_counts_every_request(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        for _ in range(3):
            self.use(backend, ticket, clock, window=0)
        assert backend.find_ticket(ticket.id).uses_count == 3

    def test_a_used_up_limit_lets_the_current_use_finish_and_nothing_more(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, uses_limit=1)
        self.use(backend, ticket, clock)
        clock.advance(50)
        self.use(backend, ticket, clock)  # the same use, although the limit is reached
        clock.advance(61)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock)
        # The refusal did not move the window: a request right after it is refused as well.
        clock.advance(1)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock)
        assert backend.find_ticket(ticket.id).uses_count == 1

    def test_each_holder_has_its_own_window(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob", "carol"], uses_limit=2)
        self.use(backend, ticket, clock, "bob")
        self.use(backend, ticket, clock, "carol")
        self.use(backend, ticket, clock, "bob")
        assert backend.find_ticket(ticket.id).uses_count == 2
        clock.advance(120)
        with pytest.raises(errors.TicketExhausted):
            self.use(backend, ticket, clock, "bob")

    def test_expiry_and_allow_lists_still_refuse_a_continuing_use(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1, users=["bob"], expires_in=30)
        self.use(backend, ticket, clock, "bob")
        with pytest.raises(errors.TicketUserExcluded):
            self.use(backend, ticket, clock, "carol")
        clock.advance(30)
        with pytest.raises(errors.TicketExpired):
            self.use(backend, ticket, clock, "bob")

    def test_a_revoked_ticket_is_refused_within_the_window(self, backend, clock, alice, ds1):
        ticket = self.create(backend, clock, alice, ds1)
        self.use(backend, ticket, clock)
        backend.delete_ticket(alice, ticket.id)
        with pytest.raises(errors.TicketNotFound):
            self.use(backend, ticket, clock)

    def test_threads_never_overshoot_and_one_holder_counts_once(self, backend, clock, alice, ds1):
        holders = ["alice", "bob", "carol"]
        ticket = self.create(backend, clock, alice, ds1, users=holders, uses_limit=2)
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def worker(holder: str) -> None:
            start.wait()
            try:
                self.use(backend, ticket, clock, holder)
                result = holder
            except errors.TicketExhausted:
                result = "refused"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=worker, args=(holders[n % 3],)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        admitted = {o for o in outcomes if o != "refused"}
        # Exactly two holders got in (each with all 4 of its requests); the third was refused every time.
        assert len(admitted) == 2 and outcomes.count("refused") == 4
        assert backend.find_ticket(ticket.id).uses_count == 2

    def test_processes_sharing_the_catalogue_never_overshoot(self, backend, data_dir, clock, alice, ds1):
        holders = ["alice", "bob", "carol"]
        ticket = self.create(backend, clock, alice, ds1, users=holders, uses_limit=2)
        context = multiprocessing.get_context("spawn")
        start, results = context.Barrier(3), context.Queue()
        when = clock().timestamp()
        workers = [context.Process(target=_window_race.race_in_window,
                                   args=(data_dir, ticket.id, holders[n:] + holders[:n], when, start, results))
                   for n in range(3)]
        for worker in workers:
            worker.start()
        try:
            won = [results.get(timeout=60) for _ in workers]
        finally:
            for worker in workers:
                worker.join(timeout=60)
            results.close()
            results.join_thread()
        assert [w.exitcode for w in workers] == [0, 0, 0]
        # Every process saw the same two holders admitted; never a third use.
        assert len({frozenset(w) for w in won}) == 1 and len(won[0]) == 2
        assert backend.find_ticket(ticket.id).uses_count == 2
