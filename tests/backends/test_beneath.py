"""``openat2`` below a directory fd: what the kernel refuses, and the switch-off where the call is refused."""
from __future__ import annotations

import ctypes
import errno
import os

import pytest

from ticketbooth.backends.embedded import beneath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@pytest.fixture
def root(tmp_path):
    (tmp_path / "zone" / "a" / "b").mkdir(parents=True)
    (tmp_path / "zone" / "a" / "b" / "file.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    os.symlink(tmp_path, tmp_path / "zone" / "a" / "up")
    os.symlink(tmp_path / "secret.txt", tmp_path / "zone" / "a" / "b" / "link.txt")
    fd = os.open(tmp_path / "zone", os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _errno(root: int, path: str, flags: int = DIR_FLAGS) -> int:
    with pytest.raises(OSError) as caught:
        os.close(beneath.open_beneath(root, path, flags))
    return caught.value.errno


def test_this_kernel_has_openat2():
    # The CI machines run Linux >= 5.6; where this fails the gateway still works, through the walk.
    assert beneath.available()


def test_opens_directories_and_files_below(root):
    fd = beneath.open_beneath(root, "a/b", DIR_FLAGS)
    try:
        assert sorted(os.listdir(fd)) == ["file.txt", "link.txt"]
    finally:
        os.close(fd)
    fd = beneath.open_beneath(root, "a/b/file.txt", FILE_FLAGS)
    with os.fdopen(fd, "rb") as stream:
        assert stream.read() == b"inside"


@pytest.mark.parametrize("path, code", [
    ("a/up", errno.ENOTDIR),  # a link as the last component: O_NOFOLLOW | O_DIRECTORY answer ENOTDIR
    ("a/up/secret.txt", errno.ELOOP),  # a link on the way
    ("a/b/link.txt", errno.ELOOP),
    ("../secret.txt", errno.EXDEV),  # out of the directory
    ("a/../../secret.txt", errno.EXDEV),
    ("/etc/passwd", errno.EXDEV),  # absolute
    ("a/missing", errno.ENOENT),
    ("a/b/file.txt/x", errno.ENOTDIR),
    ("a/b\0/file.txt", errno.EINVAL),  # a C string would end at the NUL
])
def test_refuses_links_escapes_and_what_is_not_there(root, path, code):
    flags = FILE_FLAGS if path.endswith(".txt") else DIR_FLAGS
    assert _errno(root, path, flags) == code


def test_a_refused_call_switches_it_off_for_the_process(root, monkeypatch):
    calls = []

    def refusing(*args):
        calls.append(args)

        ctypes.set_errno(errno.ENOSYS)
        return -1

    monkeypatch.setattr(beneath, "_syscall", refusing)
    assert _errno(root, "a/b") == errno.ENOSYS
    assert not beneath.available()
    assert _errno(root, "a/b") == errno.ENOSYS
    assert len(calls) == 1  # the second call made no system call
