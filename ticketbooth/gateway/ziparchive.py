"""A collection as a zip archive, produced while it is sent: never more than one chunk of a file in memory.

``zipfile`` writes to a stream that cannot seek by putting each entry's CRC and sizes in a data descriptor
after its data, so nothing needs to be known (or buffered) in advance. Entries are deflated (level 1: cheap,
and every zip reader handles deflate with data descriptors, which is not true of stored entries); entries
of 4 GiB or more use Zip64.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

__all__ = ["ZipMember", "stream_zip", "CHUNK_BYTES"]

CHUNK_BYTES = 1024 * 1024
_EARLIEST = (1980, 1, 1, 0, 0, 0)  # the zip format's epoch


@dataclass(frozen=True)
class ZipMember:
    """One file of the archive: its name inside the archive (``/``-separated), size, time and how to open it."""

    name: str
    size: int
    modified_at: datetime | None
    open: Callable[[], BinaryIO]


class _Sink(io.RawIOBase):
    """Collects what zipfile writes; not seekable, so zipfile streams (data descriptors, no rewinding)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _date_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    if moment is None:
        return _EARLIEST
    value = moment.timetuple()[:6]
    return max(value, _EARLIEST)  # type: ignore[return-value]


def stream_zip(members: Iterable[ZipMember], *, chunk: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The zip archive of ``members`` as byte chunks, in order. A member whose content is longer or shorter
    than its ``size`` raises ``OSError`` (the archive would lie about it)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member in members:
            info = zipfile.ZipInfo(member.name, date_time=_date_time(member.modified_at))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.file_size = member.size
            written = 0
            with member.open() as source, archive.open(info, "w", force_zip64=member.size >= 2**32 - 1) as out:
                while data := source.read(chunk):
                    written += len(data)
                    if written > member.size:
                        raise OSError(f"{member.name} is longer than its recorded size")
                    out.write(data)
                    if (pending := sink.take()):
                        yield pending
            if written != member.size:
                raise OSError(f"{member.name} ended before its recorded size")
            if (pending := sink.take()):
                yield pending
    if (pending := sink.take()):
        yield pending
