"""Open a path below a directory fd in one system call, following no symbolic link: Linux ``openat2``.

The zone's own walk (``storage.ZoneStorage``) opens one component at a time with ``O_NOFOLLOW`` from the zone
root's fd: safe, but a small GET paid about a dozen ``open``/``close`` calls for it, each one a release of the
GIL that the gateway's other threads fight over (issue 11 item 6). ``openat2`` with ``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`` lets the kernel do the same walk atomically: any symbolic link on
the way, and any ``..`` or absolute path leading out of the directory, fails the call with ``ELOOP``/``EXDEV``
instead of being followed. Python's ``os`` module has no ``openat2``, so it is called through ``ctypes``.

:func:`open_beneath` raises ``OSError`` for every failure; callers then take their component-by-component walk,
which names the failure precisely (a missing component, a data object in the way, a link). Where the kernel is
older than 5.6 or a seccomp filter refuses the call, the first ``ENOSYS``/``EPERM`` switches it off for the
process and every later call raises at once, without a system call.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform

__all__ = ["open_beneath", "available"]

# <linux/openat2.h>; the syscall number is the same on every architecture that has it (unified table).
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_SYMLINKS | _RESOLVE_BENEATH


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load() -> object | None:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64", "arm64", "riscv64"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall  # CDLL: the GIL is released during the call
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has syscall()
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_OpenHow), ctypes.c_size_t]
    return syscall


_syscall = _load()


def available() -> bool:
    """Whether :func:`open_beneath` still makes system calls (false where ``openat2`` proved unavailable)."""
    return _syscall is not None


def disable() -> None:
    """Stop using ``openat2`` in this process (tests use it to exercise the walk every caller falls back to)."""
    global _syscall
    _syscall = None  # one store: threads that raced past the check just make one more refused call


def open_beneath(dir_fd: int, path: str, flags: int) -> int:
    """A new fd for ``path`` (relative, ``/``-separated) below ``dir_fd``, opened with ``flags``
    (``O_CREAT`` excluded), no symbolic link followed and nothing outside ``dir_fd`` reached.

    Raises ``OSError``: the kernel's errno (``ENOENT``, ``ENOTDIR``, ``ELOOP`` for a link, ``EXDEV`` for an
    escape ...), or ``ENOSYS`` where ``openat2`` is not available.
    """
    syscall = _syscall
    if syscall is None:
        raise OSError(errno.ENOSYS, "openat2 is not available")
    encoded = os.fsencode(path)
    if 0 in encoded:  # a C string would end there and name another file
        raise OSError(errno.EINVAL, "embedded NUL in path")
    how = _OpenHow(flags=flags & ~os.O_CREAT, mode=0, resolve=_RESOLVE)
    fd = syscall(_SYS_OPENAT2, dir_fd, encoded, ctypes.byref(how), ctypes.sizeof(how))
    if fd >= 0:
        return fd
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM):  # an old kernel, or a seccomp filter that refuses the call
        disable()
    raise OSError(code, os.strerror(code), path)
