"""``s3.use_window`` through the gateway: one download made of many requests is one use; links never merge."""
from __future__ import annotations

import pytest

from ticketbooth.settings import S3Settings

from .conftest import START, Clock, call_wsgi, make_world

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def world(tmp_path):
    world = make_world(tmp_path, Clock(START), use_window=60)
    world.put("ds1/big.bin", DATA)
    yield world
    world.backend.close()


def test_a_head_and_ranged_gets_are_one_use_of_a_limited_ticket(world):
    ticket = world.ticket(uses_limit=2)
    client = world.client(ticket)
    assert client.request("HEAD", "big.bin").status == 200
    parts = []
    for start in range(0, len(DATA), 2048):  # eight ranged GETs, as boto3's download_file makes them
        world.clock.advance(1)
        result = client.request("GET", "big.bin", headers={"Range": f"bytes={start}-{start + 2047}"})
        assert result.status == 206
        parts.append(result.body)
    assert b"".join(parts) == DATA
    assert world.backend.find_ticket(ticket.id).uses_count == 1
    world.clock.advance(61)
    assert client.request("GET", "big.bin").status == 200
    assert world.backend.find_ticket(ticket.id).uses_count == 2
    world.clock.advance(61)
    refused = client.request("GET", "big.bin")
    assert (refused.status, refused.code) == (403, "AccessDenied")
    assert world.backend.find_ticket(ticket.id).uses_count == 2


def test_a_refused_request_counts_nothing_and_opens_no_window(world):
    ticket = world.ticket(uses_limit=1)
    client = world.client(ticket)
    assert client.request("GET", "big.bin", bucket="ticket-999").status == 403  # wrong bucket: refused early
    assert world.backend.find_ticket(ticket.id).uses_count == 0
    assert client.request("GET", "big.bin").status == 200
    assert world.backend.find_ticket(ticket.id).uses_count == 1


def test_links_count_every_request_whatever_the_window(world):
    ticket = world.ticket(anonymous=True, uses_limit=2)
    for _ in range(2):
        assert call_wsgi(world.app, "GET", f"/_t/{ticket.string}/big.bin").status == 200
    assert call_wsgi(world.app, "GET", f"/_t/{ticket.string}/big.bin").status == 410
    assert world.backend.find_ticket(ticket.id).uses_count == 2


def test_the_default_window_makes_one_download_one_use_and_a_later_one_another(tmp_path):
    window = S3Settings().use_window
    assert 0 < window <= 60  # a job's burst of requests, not a session kept open for minutes
    world = make_world(tmp_path, Clock(START), use_window=window)
    try:
        world.put("ds1/big.bin", DATA)
        ticket = world.ticket(uses_limit=2)
        client = world.client(ticket)
        assert client.request("HEAD", "big.bin").status == 200
        for start in range(0, len(DATA), 2048):
            world.clock.advance(window / 4)  # slow parts: each request well within the window of the previous
            assert client.request("GET", "big.bin", headers={"Range": f"bytes={start}-{start + 2047}"}).status == 206
        assert world.backend.find_ticket(ticket.id).uses_count == 1
        world.clock.advance(window + 0.5)  # the next job
        assert client.request("GET", "big.bin").status == 200
        assert world.backend.find_ticket(ticket.id).uses_count == 2
        world.clock.advance(window + 0.5)
        assert client.request("GET", "big.bin").status == 403
    finally:
        world.backend.close()
