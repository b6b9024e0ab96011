"""The embedded deployment's S3 master key: from configuration, or generated once into ``<data_dir>/master.key``."""
from __future__ import annotations

import os
import secrets
import tempfile

from ...errors import ConfigError
from ...s3keys import MIN_MASTER_KEY_BYTES

__all__ = ["MASTER_KEY_FILE", "load_or_create_master_key"]

MASTER_KEY_FILE = "master.key"


def load_or_create_master_key(data_dir: str) -> bytes:
    """The key in ``<data_dir>/master.key``, created (mode 0600, 64 hex characters) when absent.

    The key is the file's text, so pasting it into ``s3.master_key`` keeps every key pair valid. Several
    processes starting at once agree on one key: the file is written aside and linked into place, and whoever
    loses the race reads the winner's key. ``ConfigError`` when the file holds fewer than 32 bytes.
    """
    path = os.path.join(data_dir, MASTER_KEY_FILE)
    if not os.path.exists(path):
        fd, temp_path = tempfile.mkstemp(dir=data_dir, prefix=".master.key.")  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temp_path, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temp_path)
    with open(path, "rb") as stream:
        key = stream.read().strip()
    if len(key) < MIN_MASTER_KEY_BYTES:
        raise ConfigError(f"'{path}' must hold a master key of at least {MIN_MASTER_KEY_BYTES} bytes")
    return key
