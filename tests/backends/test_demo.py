"""Demo seeding: the README walkthrough's data, idempotent, never overwriting a user's changes."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.demo import demo_files, seed_demo
from ticketbooth.model import Actor, TargetKind, TicketSpec


@pytest.fixture
def backend(tmp_path):
    backend = EmbeddedBackend(tmp_path / "data")
    yield backend
    backend.close()


def test_seed_creates_users_group_and_files(backend):
    written = seed_demo(backend)
    expected = demo_files("tempZone")
    assert sorted(written) == sorted(expected)
    assert {"/tempZone/home/alice/ds1/README.txt", "/tempZone/home/alice/ds1/data/measurements.csv",
            "/tempZone/home/alice/ds1/data/image.bin", "/tempZone/home/alice/ds10/notes.txt",
            "/tempZone/home/alice/hello.txt"} == set(expected)
    assert len(expected["/tempZone/home/alice/ds1/data/image.bin"]) >= 4096
    assert backend.path_kind("/tempZone/home/bob") is TargetKind.COLLECTION
    assert backend.user_groups("alice") == backend.user_groups("bob") == frozenset({"lab"})


def test_seeded_files_read_back_through_a_ticket(backend):
    seed_demo(backend)
    now = datetime.now(UTC)
    ticket = backend.create_ticket(Actor("alice"), TicketSpec("/tempZone/home/alice/ds1", users=("bob",)), now=now)
    with backend.open_session(ticket, "bob", client_host=None, now=now) as session:
        for info in session.list(ticket.path, recursive=True):
            content = demo_files("tempZone")[info.path]
            with session.open_read(info.path) as stream:
                assert stream.read() == content
            assert info.etag == hashlib.md5(content).hexdigest()


def test_image_bytes_are_deterministic():
    assert demo_files("z")["/z/home/alice/ds1/data/image.bin"] == demo_files("z")["/z/home/alice/ds1/data/image.bin"]


def test_seeding_again_changes_nothing_and_keeps_user_edits(backend):
    seed_demo(backend)
    backend.put_object("/tempZone/home/alice/hello.txt", b"edited by alice")
    assert seed_demo(backend) == []
    now = datetime.now(UTC)
    ticket = backend.create_ticket(Actor("alice"), TicketSpec("/tempZone/home/alice/hello.txt", users=("alice",)),
                                   now=now)
    with backend.open_session(ticket, "alice", client_host=None, now=now) as session:
        with session.open_read(ticket.path) as stream:
            assert stream.read() == b"edited by alice"
