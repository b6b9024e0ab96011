"""The per-process memory of a key pair's last request (``irods.recent``) and the pure window rule on a counter
record (``counters.open_use``/``note_request``), with injected instants."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketbooth import errors
from ticketbooth.backends.irods.counters import MAX_WINDOWS, Counters, decode, encode, note_request, open_use
from ticketbooth.backends.irods.recent import RecentRequests

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = (7, "s" * 15, "alice")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_open_use_counts_a_new_use_and_continues_within_the_window():
    first = open_use(Counters(uses_limit=1), "alice", at(0), 10)
    assert first.uses_count == 1 and dict(first.windows) == {"alice": T0.timestamp()}
    again = open_use(first, "alice", at(10), 10)  # the limit is reached, the use goes on
    assert again.uses_count == 1 and dict(again.windows)["alice"] == at(10).timestamp()
    with pytest.raises(errors.TicketExhausted):
        open_use(again, "alice", at(20.5), 10)
    with pytest.raises(errors.TicketExhausted):
        open_use(again, "bob", at(11), 10)  # each holder has a window of its own
    assert open_use(Counters(), "alice", at(0), 0).windows == ()  # no window: nothing remembered


def test_a_record_keeps_few_open_windows_and_old_records_still_decode():
    counters = Counters()
    for n in range(MAX_WINDOWS + 5):
        counters = open_use(counters, f"u{n}", at(n), 60)
    assert len(counters.windows) == MAX_WINDOWS and counters.windows[-1][0] == f"u{MAX_WINDOWS + 4}"
    counters = open_use(counters, "late", at(200), 60)  # the others' windows have passed: forgotten
    assert [h for h, _ in counters.windows] == ["late"]
    assert decode(encode(counters)) == counters
    old = '{"modified":0,"uses_count":1,"uses_limit":0,"write_byte_count":0,"write_byte_limit":0,' \
          '"write_file_count":0,"write_file_limit":0}'
    assert decode(old) == Counters(uses_count=1) and encode(Counters(uses_count=1)) == old
    assert decode(old[:-1] + ',"windows":[["a","x"]]}') is None


def test_note_request_moves_the_window_without_counting():
    counters = open_use(Counters(uses_limit=1), "alice", at(0), 10)
    noted = note_request(counters, "alice", at(9), 10)
    assert noted.uses_count == 1 and open_use(noted, "alice", at(18), 10).uses_count == 1
    assert note_request(noted, "alice", at(5), 10) == noted  # an earlier instant never moves it back


def test_recent_requests_continue_and_ask_for_a_write_every_half_window():
    recent = RecentRequests()
    assert not recent.continues(KEY, at(0), 10) and recent.stale(KEY, at(0), 10)
    recent.record(KEY, at(0), 10, written=True)
    assert recent.continues(KEY, at(10), 10) and not recent.continues(KEY, at(10.5), 10)
    assert not recent.stale(KEY, at(4.9), 10) and recent.stale(KEY, at(5), 10)
    recent.record(KEY, at(5), 10, written=False)
    assert recent.stale(KEY, at(6), 10) and recent.continues(KEY, at(15), 10)
    small = RecentRequests(max_pairs=2)
    for n in range(3):
        small.record((n, "s", "h"), at(n), 10, written=True)
    assert not small.continues((0, "s", "h"), at(3), 10) and small.continues((2, "s", "h"), at(3), 10)
