"""A byte range of an open regular file, as a body a WSGI server can send with ``sendfile``.

gunicorn sends a ``wsgi.file_wrapper`` body whose file has a ``fileno()`` with ``socket.sendfile``: from the
descriptor's current offset (``os.lseek(fd, 0, SEEK_CUR)``) for exactly the response's ``Content-Length``
(gunicorn 27, ``gunicorn/http/wsgi.py``, ``Response.sendfile``). Servers that cannot (TLS, ``--no-sendfile``,
werkzeug's ``FileWrapper``), and ``socket.sendfile``'s own fallback, read it instead with ``read(n)`` until
``b""``. A :class:`FileSlice` serves every one of them the same bytes: its descriptor is placed at the first byte
of the range, ``read`` never passes the last, and positions (``seek``/``tell``) are the file's own, as
``socket.sendfile`` expects.

``socket.sendfile`` leaves the file at ``offset + bytes sent`` (documented), so after a response
:attr:`FileSlice.complete` says whether all of the range went out — ``sendfile`` stops silently at the end of a
file that shrank under the download, where a reading server gets the :class:`OSError` of :meth:`FileSlice.read`.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO

__all__ = ["FileSlice", "file_slice"]


class FileSlice:
    """``length`` bytes of ``stream`` (a regular file) from position ``start``; closing it closes ``stream``."""

    def __init__(self, stream: BinaryIO, start: int, length: int) -> None:
        self._stream = stream
        self._fd = stream.fileno()
        self._end = start + length
        self._pos = os.lseek(self._fd, start, os.SEEK_SET)
        self.failed = False  # read() raised: the server has seen the failure

    @property
    def end(self) -> int:
        """The position after the range's last byte."""
        return self._end

    @property
    def complete(self) -> bool:
        """Whether the position reached the range's end (read to it, or told so by ``socket.sendfile``)."""
        return self._pos >= self._end

    def shrunk(self) -> bool:
        """Whether the file is now too short to hold the range (it was truncated under the download)."""
        return os.fstat(self._fd).st_size < self._end

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = os.lseek(self._fd, offset, whence)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left of the range for ``None`` or a negative size); ``b""`` at its
        end. Raises ``OSError`` when the file ends before the range does."""
        left = self._end - self._pos
        if left <= 0:
            return b""
        data = os.read(self._fd, left if size is None or size < 0 else min(size, left))
        if not data:
            self.failed = True
            raise OSError("the object ended before its recorded size")
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._stream.close()

    @property
    def closed(self) -> bool:
        return self._stream.closed


def file_slice(stream: BinaryIO, start: int, length: int) -> FileSlice | None:
    """``stream`` as a :class:`FileSlice` of ``length`` bytes from ``start`` when it is an open regular file
    (one with a descriptor ``sendfile`` can read); ``None`` for any other stream (an iRODS data object)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
    except OSError:
        return None
    return FileSlice(stream, start, length)
