"""A gateway app for gunicorn whose storage fails mid-read, for tests of what a failing response body logs::

    gunicorn 'tests.e2e.failing_reads:create_app()'

The real gateway over the real embedded backend (settings from ``$TICKETBOOTH_CONFIG``), except that an object
whose name ends in ``.unreadable`` is read through a stream that delivers its first MiB and then fails with
``EIO``, as a disk with a bad sector or a storage connection that drops does. The stream has no file
descriptor (like an iRODS data object's), so the gateway reads it itself in 1 MiB chunks — its own body
iterator, the path where a failure after the headers happens inside the WSGI application.
"""
from __future__ import annotations

import errno
from typing import Any, BinaryIO

from ticketbooth.backends.embedded import EmbeddedBackend
from ticketbooth.gateway.app import GatewayApp, create_gateway_app
from ticketbooth.settings import load_settings

__all__ = ["UNREADABLE_SUFFIX", "READABLE_BYTES", "create_app"]

UNREADABLE_SUFFIX = ".unreadable"
READABLE_BYTES = 1024 * 1024


class _FailingStream:
    """The first ``READABLE_BYTES`` of ``inner``, then ``OSError(EIO)``; no ``fileno``."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._left = READABLE_BYTES

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        data = self._inner.read(self._left if size is None or size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def close(self) -> None:
        self._inner.close()


class _FailingReadsBackend(EmbeddedBackend):
    def open_session(self, *args: Any, **kwargs: Any) -> Any:
        session = super().open_session(*args, **kwargs)
        open_read = session.open_read

        def failing_open_read(path: str) -> Any:
            stream = open_read(path)
            return _FailingStream(stream) if path.endswith(UNREADABLE_SUFFIX) else stream

        session.open_read = failing_open_read  # type: ignore[method-assign]
        return session


def create_app() -> GatewayApp:
    settings = load_settings()
    return create_gateway_app(settings, backend=_FailingReadsBackend.from_settings(settings))
