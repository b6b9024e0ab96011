"""Files and directories that only the service's own user can read: 0700 directories, 0600 files.

The modes are given at creation (``mkdir``/``open`` mode arguments), so they hold whatever the process umask
and whatever the mode of the directory they are made in (an administrator's 0755 data volume included).
"""
from __future__ import annotations

import os

__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dirs", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: str) -> None:
    """``os.makedirs(path, exist_ok=True)`` with every directory it creates 0700.

    (``os.makedirs`` applies ``mode`` to the last directory only.) Existing directories keep their mode.
    """
    if os.path.isdir(path):
        return
    head = os.path.dirname(path)
    if head and head != path:
        make_private_dirs(head)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def write_private(path: str, data: bytes) -> None:
    """Create ``path`` (which must not exist) as a 0600 file holding ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
