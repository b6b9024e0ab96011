"""Stateless S3 key pairs: derivation, parsing, forgery resistance."""
from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketbooth import s3keys

MASTER = b"m" * 32
OTHER = b"o" * 32


def test_round_trip_for_many_ids_and_holders():
    for ticket_id in (0, 1, 255, 256, 10040, 2**31, 2**63 - 1):
        for holder in ("alice", "anonymous", "ü-user@example.org#zone"):
            akid = s3keys.access_key_id(MASTER, ticket_id, holder)
            assert re.fullmatch(r"TB[A-Z2-7]+", akid)
            assert s3keys.parse_access_key_id(MASTER, akid) == s3keys.KeyIdentity(ticket_id, holder)


def test_ids_are_deterministic_and_distinct():
    assert s3keys.access_key_id(MASTER, 7, "alice") == s3keys.access_key_id(MASTER, 7, "alice")
    assert len({s3keys.access_key_id(MASTER, i, h) for i in (7, 8) for h in ("alice", "bob")}) == 4
    assert s3keys.access_key_id(MASTER, 7, "alice") != s3keys.access_key_id(OTHER, 7, "alice")


def test_another_master_key_or_a_flipped_character_is_refused():
    akid = s3keys.access_key_id(MASTER, 42, "alice")
    assert s3keys.parse_access_key_id(OTHER, akid) is None
    for position in range(2, len(akid)):
        flipped = akid[:position] + ("A" if akid[position] != "A" else "B") + akid[position + 1:]
        assert s3keys.parse_access_key_id(MASTER, flipped) is None


def test_tag_checked_before_fields_cannot_be_forged_without_the_key():
    # Change the holder inside a genuine id: the tag no longer matches.
    akid = s3keys.access_key_id(MASTER, 42, "alice")
    text = akid[2:]
    raw = bytearray(base64.b32decode(text + "=" * (-len(text) % 8)))
    raw[-6] ^= 0x01  # last holder byte
    forged = "TB" + base64.b32encode(bytes(raw)).decode().rstrip("=")
    assert s3keys.parse_access_key_id(MASTER, forged) is None


@pytest.mark.parametrize("key_id", ["", "TB", "AKIAIOSFODNN7EXAMPLE", "tb" + "A" * 20, "TB" + "A" * 600, "TB!!",
                                    "TB" + "A" * 7, "TBAAAAAAAAAAAAAAAAAA", 42, None])
def test_garbage_is_none(key_id):
    assert s3keys.parse_access_key_id(MASTER, key_id) is None


def test_short_master_key_is_refused():
    for call in (lambda: s3keys.access_key_id(b"short", 1, "a"), lambda: s3keys.parse_access_key_id(b"short", "TB"),
                 lambda: s3keys.secret_access_key(b"short", 1, "s", "a")):
        with pytest.raises(ValueError):
            call()


def test_ticket_id_range():
    with pytest.raises(ValueError):
        s3keys.access_key_id(MASTER, -1, "a")
    with pytest.raises(ValueError):
        s3keys.access_key_id(MASTER, 2**63, "a")


def test_secret_depends_on_every_input():
    base = s3keys.secret_access_key(MASTER, 1, "STRING123456789", "alice")
    assert len(base) == 40 and re.fullmatch(r"[A-Za-z0-9_-]{40}", base)
    assert base == s3keys.secret_access_key(MASTER, 1, "STRING123456789", "alice")
    variants = [s3keys.secret_access_key(OTHER, 1, "STRING123456789", "alice"),
                s3keys.secret_access_key(MASTER, 2, "STRING123456789", "alice"),
                s3keys.secret_access_key(MASTER, 1, "STRING12345678X", "alice"),
                s3keys.secret_access_key(MASTER, 1, "STRING123456789", "bob")]
    assert base not in variants and len(set(variants)) == 4


@given(st.one_of(st.text(max_size=80), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", max_size=80)
                 .map(lambda s: "TB" + s)))
def test_any_input_parses_to_an_identity_or_none(key_id):
    result = s3keys.parse_access_key_id(MASTER, key_id)
    assert result is None or isinstance(result, s3keys.KeyIdentity)


def test_an_id_too_long_to_parse_is_never_minted():
    with pytest.raises(ValueError):
        s3keys.access_key_id(MASTER, 1, "a" * 400)


@given(st.integers(min_value=0, max_value=2**63 - 1),
       st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200))
def test_every_minted_id_parses_back(ticket_id, holder):
    try:
        akid = s3keys.access_key_id(MASTER, ticket_id, holder)
    except ValueError:
        assert len(holder.encode()) > 250  # only names far longer than any valid user name
        return
    assert s3keys.parse_access_key_id(MASTER, akid) == s3keys.KeyIdentity(ticket_id, holder)
