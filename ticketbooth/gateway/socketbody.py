"""A request body read straight from the connection when the gateway runs under gunicorn.

gunicorn's ``wsgi.input`` hands out ``bytes`` built through two ``BytesIO`` buffers (the socket reader's and the
body's): every byte of an upload is copied three or four times before the application sees it, which cost a
1 GiB PUT about as much CPU as its MD5. :func:`direct_input` swaps it, for a body of known length, for
:class:`SocketBody`: ``readinto`` the caller's buffer with ``recv_into`` — one copy, from the kernel — after the
bytes gunicorn had already read past the request head.

It stays gunicorn's body as far as gunicorn is concerned: the length left is kept in gunicorn's own reader, so
after the response gunicorn drains exactly what the application left unread (keep-alive goes on as before), and a
failed read marks the body ``failed`` so that the connection is closed rather than reused. Anything else (another
server, a chunked or unbounded body, a body already read from) keeps the server's ``wsgi.input``.
"""
from __future__ import annotations

import io
import os
from typing import Any

__all__ = ["SocketBody", "direct_input"]


class SocketBody(io.RawIOBase):
    """The rest of a gunicorn request body of known length (``body``: gunicorn's ``Body`` over a
    ``LengthReader`` of a ``SocketUnreader``), read from its socket."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body
        self._reader = body.reader  # its ``length`` is what is left of the body, for gunicorn too
        self._unreader = self._reader.unreader
        self._recv_into = self._unreader.sock.recv_into

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._reader.length
        if left <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        want = min(len(view), left)
        if not want:
            return 0
        held = self._unreader.buf
        held.seek(0, os.SEEK_END)
        try:
            if held.tell():
                # Bytes gunicorn read past the request head; beyond this body they belong to the next request.
                data = held.getvalue()
                count = min(want, len(data))
                view[:count] = data[:count]
                rest = io.BytesIO()
                rest.write(data[count:])
                self._unreader.buf = rest
            else:
                count = self._recv_into(view, want)
        except BaseException:
            self._body.failed = True  # gunicorn closes the connection instead of reading the next request
            raise
        if not count:
            self._body.failed = True  # the client went away before the end of its body
            return 0
        self._reader.length = left - count
        return count

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._reader.length, 0)
        buffer = bytearray(size)
        count = self.readinto(buffer)
        return bytes(buffer[:count]) if count < size else bytes(buffer)


def direct_input(environ: dict[str, Any]) -> None:
    """Put a :class:`SocketBody` in ``environ["wsgi.input"]`` where gunicorn's body can be read from its socket."""
    body = environ.get("wsgi.input")
    if environ.get("gunicorn.socket") is None or body is None:
        return
    try:
        from gunicorn.http.body import Body, LengthReader
        from gunicorn.http.unreader import SocketUnreader
    except ImportError:  # pragma: no cover - gunicorn set gunicorn.socket, so it is importable
        return
    reader = getattr(body, "reader", None)
    if (type(body) is not Body or type(reader) is not LengthReader
            or type(getattr(reader, "unreader", None)) is not SocketUnreader):
        return
    buf = getattr(body, "buf", None)
    if not isinstance(buf, io.BytesIO) or not isinstance(reader.length, int):
        return
    buf.seek(0, os.SEEK_END)
    if buf.tell():
        return  # something read from it already
    environ["wsgi.input"] = SocketBody(body)
