"""A tally of the iRODS API requests python-irodsclient sends, for tests and benchmarks on a real zone.

:func:`tally` patches ``irods.connection.Connection.send`` for the duration of a ``with`` block and records the
API number of every request message (``RODS_API_REQ``) any session of this process sends, so a test can state
how many catalogue round trips one S3 request costs (``GEN_QUERY_AN``: one per GenQuery page, continuation pages
and cursor closes included) and which other API calls it made (stats, opens, metadata, collection creates).
Connection set-up (the startup pack and the authentication exchange) is recorded apart, under ``connects``: it
is not a catalogue query, and whether a request needs one depends on whether its session was parked.
"""
from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["ApiTally", "DATA_TRANSFER", "tally"]

#: Calls that move bytes of an already opened object: not catalogue work.
DATA_TRANSFER = frozenset({
    "DATA_OBJ_READ_AN", "DATA_OBJ_WRITE_AN", "DATA_OBJ_LSEEK_AN", "DATA_OBJ_READ201_AN", "DATA_OBJ_WRITE201_AN",
    "DATA_OBJ_LSEEK201_AN",
})
_AUTH = frozenset({"AUTH_REQUEST_AN", "AUTH_RESPONSE_AN", "AUTHENTICATION_APN", "GET_TEMP_PASSWORD_AN",
                   "PAM_AUTH_REQUEST_AN", "SSL_START_AN", "SSL_END_AN"})


@dataclass
class ApiTally:
    """What the sessions of this process sent while the tally ran (thread-safe)."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    connects: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def queries(self) -> int:
        """GenQuery round trips (``GEN_QUERY_AN``)."""
        return self.calls["GEN_QUERY_AN"]

    @property
    def catalogue_calls(self) -> int:
        """Every API request except data transfer on an open object and authentication."""
        return sum(n for name, n in self.calls.items() if name not in DATA_TRANSFER)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.connects = 0

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def _record(self, name: str | None) -> None:
        with self._lock:
            if name is None:
                self.connects += 1
            else:
                self.calls[name] += 1


@contextlib.contextmanager
def tally() -> Iterator[ApiTally]:
    """Count every iRODS API request sent in this process while the block runs."""
    from irods.api_number import api_number
    from irods.connection import Connection

    names = {number: name for name, number in api_number.items()}
    found = ApiTally()
    original = Connection.send

    def send(self: Connection, message: object) -> object:
        kind = getattr(message, "msg_type", b"")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "RODS_API_REQ":
            name = names.get(getattr(message, "int_info", 0), f"API_{getattr(message, 'int_info', 0)}")
            if name not in _AUTH:  # part of connecting, counted once under RODS_CONNECT
                found._record(name)
        elif kind == "RODS_CONNECT":
            found._record(None)
        return original(self, message)

    Connection.send = send  # type: ignore[method-assign]
    try:
        yield found
    finally:
        Connection.send = original  # type: ignore[method-assign]
