"""Logical path rules: validation, segment-boundary containment, joining without escapes."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketbooth import paths
from ticketbooth.errors import InvalidPath

Z = "tempZone"


@pytest.mark.parametrize("path, canonical", [
    ("/tempZone/home", "/tempZone/home"),
    ("/tempZone/home/alice/", "/tempZone/home/alice"),
    ("/tempZone/home/alice/a b/ü.txt", "/tempZone/home/alice/a b/ü.txt"),
    ("/tempZone/home/alice/.hidden/..dots", "/tempZone/home/alice/.hidden/..dots"),
    ("/tempZone/home/alice/100%_done", "/tempZone/home/alice/100%_done"),
])
def test_valid_paths(path, canonical):
    assert paths.validate_path(path, Z) == canonical


@pytest.mark.parametrize("path", [
    "", "relative/path", "/", "/tempZone", "/tempZone/", "/otherZone/home", "/tempZoneX/home",
    "/tempZone//home", "/tempZone/home//", "/tempZone/home/./alice", "/tempZone/home/../etc",
    "/tempZone/home/alice/..", "/tempZone/home/a\x00b", "/tempZone/home/a\nb", "/tempZone/home/a\x7fb",
    "/tempZone/" + "x" * 1100, None, 42, b"/tempZone/home",
])
def test_invalid_paths(path):
    with pytest.raises(InvalidPath):
        paths.validate_path(path, Z)


def test_length_limit_counts_utf8_bytes():
    head = "/tempZone/h/"
    exact = head + "a" * (paths.MAX_PATH_BYTES - len(head))
    assert paths.validate_path(exact, Z) == exact
    with pytest.raises(InvalidPath):
        paths.validate_path(head + "é" * ((paths.MAX_PATH_BYTES - len(head)) // 2 + 1), Z)


def test_is_within_uses_segment_boundaries():
    assert paths.is_within("/z/home/alice/ds1", "/z/home/alice/ds1")
    assert paths.is_within("/z/home/alice/ds1", "/z/home/alice/ds1/x/y")
    assert paths.is_within("/z/home/alice/ds1/", "/z/home/alice/ds1/x")
    assert not paths.is_within("/z/home/alice/ds1", "/z/home/alice/ds10")
    assert not paths.is_within("/z/home/alice/ds1", "/z/home/alice/ds1.txt")
    assert not paths.is_within("/z/home/alice/ds1", "/z/home/alice")


def test_relative_to():
    assert paths.relative_to("/z/a", "/z/a") == ""
    assert paths.relative_to("/z/a", "/z/a/b/c") == "b/c"
    with pytest.raises(ValueError):
        paths.relative_to("/z/a", "/z/ab")


@pytest.mark.parametrize("relative", ["..", "a/../b", ".", "a/./b", "a//b", "/a", "a/", "a\x00"])
def test_join_refuses_escapes_and_never_normalizes(relative):
    with pytest.raises(InvalidPath):
        paths.join("/z/home/alice", relative)


def test_join():
    assert paths.join("/z/a", "") == "/z/a"
    assert paths.join("/z/a", "b/c.txt") == "/z/a/b/c.txt"
    assert paths.join("/z/a/", "b") == "/z/a/b"
    with pytest.raises(InvalidPath):
        paths.join("/z/a", "x" * paths.MAX_PATH_BYTES)


def test_parent_basename_home_of():
    assert paths.parent("/z/a/b") == "/z/a" and paths.parent("/z") == "/" and paths.parent("/z/a/b/") == "/z/a"
    assert paths.basename("/z/a/b.txt") == "b.txt" and paths.basename("/z/a/") == "a"
    assert paths.home_of("/z/home/alice/ds1", "z") == "alice"
    assert paths.home_of("/z/home/alice", "z") == "alice"
    assert paths.home_of("/z/home", "z") is None and paths.home_of("/z/home/", "z") is None
    assert paths.home_of("/z/trash/home/alice", "z") is None and paths.home_of("/y/home/alice", "z") is None


segment = st.text(st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=12)


@given(st.one_of(st.text(max_size=60), st.lists(segment, max_size=6).map(lambda s: "/" + "/".join(s)),
                 st.lists(segment, max_size=6).map(lambda s: "/tempZone/" + "/".join(s))))
def test_validate_path_gives_a_canonical_path_or_invalid_path(path):
    try:
        result = paths.validate_path(path, Z)
    except InvalidPath:
        return
    segments = result.split("/")[1:]
    assert segments[0] == Z and len(segments) >= 2
    assert all(s not in ("", ".", "..") for s in segments)
    assert paths.validate_path(result, Z) == result  # canonical form is a fixed point


@given(st.text(max_size=40))
def test_join_stays_inside_its_root_or_refuses(relative):
    root = "/tempZone/home/alice/ds1"
    try:
        joined = paths.join(root, relative)
    except InvalidPath:
        return
    assert paths.is_within(root, joined)
    assert paths.relative_to(root, joined) == relative
    assert paths.validate_path(joined, Z) == joined


def test_listing_key_orders_siblings_as_s3_orders_keys():
    siblings = [("/z/a0", False), ("/z/a", True), ("/z/a.txt", False), ("/z/a-b", True)]
    ordered = [path for path, is_coll in sorted(siblings, key=lambda s: paths.listing_key(*s))]
    # '-' (0x2D) < '.' (0x2E) < '/' (0x2F) < '0' (0x30): the collection "a" sorts as "a/".
    assert ordered == ["/z/a-b", "/z/a.txt", "/z/a", "/z/a0"]


@pytest.mark.parametrize("code", range(0x00, 0x100))
def test_control_characters_are_refused_and_no_other(code):
    """C0 controls and DEL are refused in a segment; every other character of the first 256 is a name."""
    path = f"/tempZone/home/alice/a{chr(code)}b"
    if code < 0x20 or code == 0x7F:
        with pytest.raises(InvalidPath):
            paths.validate_path(path, "tempZone")
        with pytest.raises(InvalidPath):
            paths.join("/tempZone/home/alice", f"x/a{chr(code)}b")
    elif chr(code) != "/":
        assert paths.validate_path(path, "tempZone") == path
