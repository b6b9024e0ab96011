"""Multipart uploads spooled on local disk until CompleteMultipartUpload hands them to the backend.

Layout: ``<spool_dir>/<ticket id>/<upload id>/`` holds ``upload.json`` (key, holder, initiation time) and one
file per part named ``<number:05d>.<md5 hex>``, written to a temporary name first and renamed when complete,
so a part is either wholly there or absent. Upload ids are 32 random URL-safe characters, checked against a
strict pattern before they touch the file system, and bound to the ticket and key: the same id presented for
another key or through another ticket is ``NoSuchUpload``. Completion streams the parts, in order, into one
``DataSession.write`` (limits are enforced there, so a refused completion leaves nothing in the zone).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from ..privatefiles import DIR_MODE, make_private_dirs, write_private
from ..s3.errors import S3Error
from .s3xml import PartEntry

__all__ = ["MultipartStore", "Upload", "MIN_PART_SIZE", "MAX_PART_SIZE", "MAX_PART_NUMBER", "multipart_etag",
           "ConcatenatedParts"]

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PART_NUMBER = 10000
CHUNK = 1024 * 1024
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_PART_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})")


@dataclass(frozen=True)
class Upload:
    ticket_id: int
    upload_id: str
    key: str
    holder: str
    initiated: datetime
    directory: str


def multipart_etag(md5_hexes: Sequence[str]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, ``-`` and the part count."""
    digest = hashlib.md5(b"".join(bytes.fromhex(h) for h in md5_hexes), usedforsecurity=False).hexdigest()
    return f"{digest}-{len(md5_hexes)}"


def no_such_upload(upload_id: str = "") -> S3Error:
    return S3Error("NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or "
                   "the upload may have been aborted or completed.", details={"UploadId": upload_id[:64]})


class ConcatenatedParts(io.RawIOBase):
    """A read-only stream over part files, one after another, opened one at a time."""

    def __init__(self, files: Sequence[str]) -> None:
        super().__init__()
        self._files = list(files)
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._current is None:
                if not self._files:
                    return 0
                self._current = open(self._files.pop(0), "rb")  # noqa: SIM115 - closed at its EOF or close()
            n = self._current.readinto(buffer)
            if n:
                return n
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


class MultipartStore:
    """Multipart uploads under ``spool_dir``. ``min_part_size`` is S3's 5 MiB unless a test lowers it."""

    def __init__(self, spool_dir: str, *, min_part_size: int = MIN_PART_SIZE) -> None:
        self.spool_dir = os.path.abspath(spool_dir)
        self.min_part_size = min_part_size

    def _ticket_dir(self, ticket_id: int) -> str:
        return os.path.join(self.spool_dir, str(int(ticket_id)))

    def create(self, ticket_id: int, key: str, holder: str, now: datetime) -> Upload:
        upload_id = secrets.token_urlsafe(24)
        directory = os.path.join(self._ticket_dir(ticket_id), upload_id)
        make_private_dirs(self._ticket_dir(ticket_id))
        os.mkdir(directory, DIR_MODE)
        meta = {"key": key, "holder": holder, "initiated": now.astimezone(UTC).isoformat()}
        write_private(os.path.join(directory, "upload.json"), json.dumps(meta).encode("utf-8"))
        return Upload(ticket_id, upload_id, key, holder, now, directory)

    def get(self, ticket_id: int, key: str, upload_id: str) -> Upload:
        """The upload ``upload_id`` of ``key`` through ticket ``ticket_id``; ``NoSuchUpload`` otherwise."""
        if not _UPLOAD_ID.fullmatch(upload_id or ""):
            raise no_such_upload(upload_id)
        upload = self._load(ticket_id, upload_id)
        if upload is None or upload.key != key:
            raise no_such_upload(upload_id)
        return upload

    def _load(self, ticket_id: int, upload_id: str) -> Upload | None:
        directory = os.path.join(self._ticket_dir(ticket_id), upload_id)
        try:
            with open(os.path.join(directory, "upload.json"), encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, ValueError):
            return None
        return Upload(ticket_id, upload_id, meta["key"], meta["holder"], datetime.fromisoformat(meta["initiated"]),
                      directory)

    def uploads(self, ticket_id: int) -> list[Upload]:
        """Uploads in progress through the ticket, by key then initiation time."""
        try:
            names = os.listdir(self._ticket_dir(ticket_id))
        except FileNotFoundError:
            return []
        found = [u for name in names if _UPLOAD_ID.fullmatch(name) and (u := self._load(ticket_id, name))]
        return sorted(found, key=lambda u: (u.key.encode("utf-8"), u.initiated, u.upload_id))

    def put_part(self, upload: Upload, number: int, stream: BinaryIO) -> PartEntry:
        """Store part ``number`` (replacing an earlier one) from ``stream`` read to EOF; a failure keeps nothing."""
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", 400, f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, "
                          "inclusive", details={"ArgumentName": "partNumber"})
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        fd, temp = tempfile.mkstemp(prefix=".part-", dir=upload.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > MAX_PART_SIZE:
                        raise S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size",
                                      details={"MaxSizeAllowed": str(MAX_PART_SIZE)})
                    md5.update(chunk)
                    out.write(chunk)
            if not os.path.isdir(upload.directory):  # aborted meanwhile
                raise no_such_upload(upload.upload_id)
            for old in self._part_files(upload).get(number, []):
                os.unlink(old)
            final = os.path.join(upload.directory, f"{number:05d}.{md5.hexdigest()}")
            os.replace(temp, final)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise
        return PartEntry(number, size, datetime.fromtimestamp(os.stat(final).st_mtime, UTC), md5.hexdigest())

    def _part_files(self, upload: Upload) -> dict[int, list[str]]:
        files: dict[int, list[str]] = {}
        try:
            names = os.listdir(upload.directory)
        except FileNotFoundError:
            raise no_such_upload(upload.upload_id) from None
        for name in names:
            match = _PART_FILE.fullmatch(name)
            if match:
                files.setdefault(int(match.group(1)), []).append(os.path.join(upload.directory, name))
        return files

    def parts(self, upload: Upload) -> list[PartEntry]:
        """The parts received so far, by number."""
        result = []
        for number, files in sorted(self._part_files(upload).items()):
            path = max(files, key=os.path.getmtime)
            st = os.stat(path)
            result.append(PartEntry(number, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC),
                                    path.rpartition(".")[2]))
        return result

    def assemble(self, upload: Upload, requested: Sequence[tuple[int, str]]) -> tuple[ConcatenatedParts, int, str]:
        """Validate a completion request; return (stream of the parts in order, total size, multipart ETag).

        ``InvalidPartOrder`` unless part numbers ascend strictly; ``InvalidPart`` for a part not uploaded or
        whose ETag differs; ``EntityTooSmall`` for any part but the last below the minimum part size.
        """
        available = {part.number: part for part in self.parts(upload)}
        numbers = [number for number, _ in requested]
        if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
            raise S3Error("InvalidPartOrder", 400, "The list of parts was not in ascending order. The parts list "
                          "must be specified in order by part number.")
        chosen = []
        for number, etag in requested:
            part = available.get(number)
            if part is None or part.etag != etag.lower():
                raise S3Error("InvalidPart", 400, "One or more of the specified parts could not be found. The part "
                              "may not have been uploaded, or the specified entity tag may not match the part's "
                              "entity tag.", details={"PartNumber": str(number), "ETag": etag[:64]})
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self.min_part_size:
                raise S3Error("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed "
                              "object size.", details={"PartNumber": str(part.number),
                                                       "MinSizeAllowed": str(self.min_part_size)})
        files = [os.path.join(upload.directory, f"{part.number:05d}.{part.etag}") for part in chosen]
        total = sum(part.size for part in chosen)
        return ConcatenatedParts(files), total, multipart_etag([part.etag for part in chosen])

    def remove(self, upload: Upload) -> None:
        """Forget the upload and its parts (abort, or after completion)."""
        shutil.rmtree(upload.directory, ignore_errors=True)
