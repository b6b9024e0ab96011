"""The per-zone lock of tests/zone_lock.py: one holder at a time, released when its file is closed."""
from __future__ import annotations

import fcntl

import pytest

from .zone_lock import hold_zone_lock, zone_lock_path


def test_lock_path_names_the_zone_or_the_explicit_file(tmp_path):
    assert zone_lock_path({"TICKETBOOTH_TEST_IRODS_HOST": "127.0.0.1", "TICKETBOOTH_TEST_IRODS_PORT": "1247"}) \
        .endswith("ticketbooth-irods-127.0.0.1-1247.lock")
    assert zone_lock_path({"TICKETBOOTH_TEST_IRODS_HOST": "a", "TICKETBOOTH_TEST_IRODS_PORT": "1"}) != \
        zone_lock_path({"TICKETBOOTH_TEST_IRODS_HOST": "b", "TICKETBOOTH_TEST_IRODS_PORT": "1"})
    explicit = str(tmp_path / "zone.lock")
    assert zone_lock_path({"TICKETBOOTH_TEST_IRODS_LOCK": explicit, "TICKETBOOTH_TEST_IRODS_HOST": "a"}) == explicit


def test_second_holder_is_refused_until_the_first_closes(tmp_path):
    path = str(tmp_path / "zone.lock")
    first = hold_zone_lock(path)
    with open(path, "a") as other:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        first.close()
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free now
