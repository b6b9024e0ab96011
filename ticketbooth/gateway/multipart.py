"""Multipart uploads spooled on local disk until CompleteMultipartUpload hands them to the backend.

Layout: ``<spool_dir>/<ticket id>/<upload id>/`` holds ``upload.json`` (key, holder, initiation time, the
object metadata CreateMultipartUpload asked for) and one
file per part named ``<number:05d>.<md5 hex>``, written to a temporary name first and renamed when complete,
so a part is either wholly there or absent. Upload ids are 32 random URL-safe characters, checked against a
strict pattern before they touch the file system, and bound to the ticket, the key *and the holder*: the same
id presented for another key, through another ticket or by another holder of the ticket is ``NoSuchUpload``.
Completion streams the parts, in order, into one ``DataSession.write`` (limits are enforced there, so a
refused completion leaves nothing in the zone).

Limits on what is staged (issue 9 item 3), held under any concurrency of threads and processes on this host:

* a part is admitted only if the ticket's staged bytes (every part of every upload of the ticket, plus every
  part still arriving, counted at its declared size) plus this part's declared size stay within both
  ``max_staged_bytes`` and the ticket's remaining write budget (``write_byte_limit - write_byte_count``).
  The check and the reservation (the part's temporary file, named with its declared size) happen under an
  exclusive ``flock`` on ``<spool_dir>/.locks/<ticket id>``; a part may not deliver more than it declared.
* at most :data:`MAX_UPLOADS_PER_TICKET` uploads are in progress per ticket, none once its write-file limit
  is reached.
* :meth:`MultipartStore.sweep` removes the uploads of tickets that are gone, expired or exhausted (uses, write
  files or write bytes), uploads older than ``expiry`` (S3's AbortIncompleteMultipartUpload), and orphans: a
  part file still arriving holds an ``flock`` on itself, so one that can be locked was left by a crashed
  worker. The gateway sweeps at start-up and then at most every :data:`SWEEP_INTERVAL` seconds.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from .. import policy
from ..backends.base import ObjectMetadata
from ..errors import TicketWriteBytesExceeded, TicketWriteFilesExceeded
from ..model import Ticket, TicketStatus
from ..privatefiles import DIR_MODE, FILE_MODE, make_private_dirs, write_private
from ..s3.errors import S3Error
from ..spool import UploadBody, receive
from .s3xml import PartEntry

__all__ = ["MultipartStore", "Upload", "MIN_PART_SIZE", "MAX_PART_SIZE", "MAX_PART_NUMBER", "multipart_etag",
           "ConcatenatedParts", "MAX_UPLOADS_PER_TICKET", "SWEEP_INTERVAL", "DEFAULT_EXPIRY",
           "DEFAULT_MAX_STAGED_BYTES", "upload_can_complete"]

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_UPLOADS_PER_TICKET = 1000
SWEEP_INTERVAL = 300
DEFAULT_EXPIRY = 7 * 86400
DEFAULT_MAX_STAGED_BYTES = 16 * 1024**3
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_PART_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})")
# A part still arriving: its number, its declared size (what it reserves) and a random tail.
_PART_TEMP = re.compile(r"\.part-(\d{5})-(\d{1,20})-[A-Za-z0-9_-]{8,}")
_NEW_UPLOAD = re.compile(r"\.new-[A-Za-z0-9_-]{32}")
#: A half-created upload directory (``.new-<id>``) older than this is an orphan.
_NEW_UPLOAD_GRACE = 3600


@dataclass(frozen=True)
class Upload:
    ticket_id: int
    upload_id: str
    key: str
    holder: str
    initiated: datetime
    directory: str
    #: What CreateMultipartUpload asked to store with the object (CompleteMultipartUpload stores it).
    metadata: ObjectMetadata | None = None
    #: The (algorithm, type) of the checksum CreateMultipartUpload asked for, if any.
    checksum: tuple[str, str] | None = None


def upload_can_complete(ticket: Ticket, now: datetime) -> bool:
    """Whether an upload through ``ticket`` could still complete: not expired, uses and write limits left."""
    if policy.ticket_status(ticket, now) in (TicketStatus.EXPIRED, TicketStatus.EXHAUSTED):
        return False
    if ticket.write_file_limit and ticket.write_file_count >= ticket.write_file_limit:
        return False
    return not (ticket.write_byte_limit and ticket.write_byte_count >= ticket.write_byte_limit)


def _longer_than_declared() -> S3Error:
    return S3Error("IncompleteBody", 400, "The request body is longer than its declared length.")


def multipart_etag(md5_hexes: Sequence[str]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, ``-`` and the part count."""
    digest = hashlib.md5(b"".join(bytes.fromhex(h) for h in md5_hexes), usedforsecurity=False).hexdigest()
    return f"{digest}-{len(md5_hexes)}"


def no_such_upload(upload_id: str = "") -> S3Error:
    return S3Error("NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or "
                   "the upload may have been aborted or completed.", details={"UploadId": upload_id[:64]})


class ConcatenatedParts(io.RawIOBase):
    """A read-only stream over part files, one after another, opened one at a time."""

    def __init__(self, files: Sequence[str], sizes: Sequence[int] = ()) -> None:
        super().__init__()
        self._files = list(files)
        self.sizes = tuple(sizes)  # of the parts, in order (the object's part boundaries)
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
    """Multipart uploads under ``spool_dir``. ``min_part_size`` is S3's 5 MiB unless a test lowers it.

    ``max_staged_bytes`` caps the bytes staged per ticket; ``expiry`` is the age after which an upload that
    was neither completed nor aborted is removed by :meth:`sweep`.
    """

    def __init__(self, spool_dir: str, *, min_part_size: int = MIN_PART_SIZE,
                 max_staged_bytes: int = DEFAULT_MAX_STAGED_BYTES,
                 expiry: timedelta = timedelta(seconds=DEFAULT_EXPIRY)) -> None:
        self.spool_dir = os.path.abspath(spool_dir)
        self.min_part_size = min_part_size
        self.max_staged_bytes = max_staged_bytes
        self.expiry = expiry

    def _ticket_dir(self, ticket_id: int) -> str:
        return os.path.join(self.spool_dir, str(int(ticket_id)))

    @contextlib.contextmanager
    def _ticket_lock(self, ticket_id: int) -> Iterator[None]:
        """Exclusive, across threads and processes: each call opens its own file description to ``flock``."""
        locks = os.path.join(self.spool_dir, ".locks")
        make_private_dirs(locks)
        fd = os.open(os.path.join(locks, str(int(ticket_id))), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- uploads ---------------------------------------------------------------------------------------

    def create(self, ticket_id: int, key: str, holder: str, now: datetime, *, write_files_left: int | None = None,
               metadata: ObjectMetadata | None = None, checksum: tuple[str, str] | None = None) -> Upload:
        """Start an upload; ``write_files_left`` (``None``: no write-file limit) bounds the uploads in progress;
        ``metadata`` is kept with it for the completed object.

        Refused with ``TicketWriteFilesExceeded`` when the ticket can store no more files, and with
        ``InvalidRequest``-like ``S3Error`` beyond :data:`MAX_UPLOADS_PER_TICKET`.
        """
        if write_files_left is not None and write_files_left <= 0:
            raise TicketWriteFilesExceeded()
        upload_id = secrets.token_urlsafe(24)
        ticket_dir = self._ticket_dir(ticket_id)
        with self._ticket_lock(ticket_id):
            make_private_dirs(ticket_dir)
            if len(self._upload_names(ticket_id)) >= MAX_UPLOADS_PER_TICKET:
                raise S3Error("InvalidRequest", 400, f"This ticket has {MAX_UPLOADS_PER_TICKET} multipart uploads "
                              "in progress; complete or abort some first.")
            # Written under a temporary name and renamed: an upload directory always has its upload.json.
            temp = os.path.join(ticket_dir, f".new-{upload_id}")
            os.mkdir(temp, DIR_MODE)
            meta: dict[str, object] = {"key": key, "holder": holder, "initiated": now.astimezone(UTC).isoformat()}
            if metadata:
                meta["metadata"] = metadata.to_dict()
            if checksum:
                meta["checksum"] = list(checksum)
            write_private(os.path.join(temp, "upload.json"), json.dumps(meta).encode("utf-8"))
            directory = os.path.join(ticket_dir, upload_id)
            os.rename(temp, directory)
        return Upload(ticket_id, upload_id, key, holder, now, directory, metadata, checksum)

    def get(self, ticket_id: int, key: str, upload_id: str, holder: str) -> Upload:
        """The upload ``upload_id`` of ``key`` started by ``holder`` through ticket ``ticket_id``.

        ``NoSuchUpload`` otherwise: another holder of the same ticket cannot see, extend or abort it.
        """
        if not _UPLOAD_ID.fullmatch(upload_id or ""):
            raise no_such_upload(upload_id)
        upload = self._load(ticket_id, upload_id)
        if upload is None or upload.key != key or not secrets.compare_digest(
                upload.holder.encode("utf-8", "surrogatepass"), holder.encode("utf-8", "surrogatepass")):
            raise no_such_upload(upload_id)
        return upload

    def _load(self, ticket_id: int, upload_id: str) -> Upload | None:
        directory = os.path.join(self._ticket_dir(ticket_id), upload_id)
        try:
            with open(os.path.join(directory, "upload.json"), encoding="utf-8") as handle:
                meta = json.load(handle)
            stored = meta.get("metadata")
            checksum = meta.get("checksum")
            return Upload(ticket_id, upload_id, meta["key"], meta["holder"],
                          datetime.fromisoformat(meta["initiated"]), directory,
                          None if stored is None else ObjectMetadata.from_dict(stored),
                          None if checksum is None else (str(checksum[0]), str(checksum[1])))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _upload_names(self, ticket_id: int) -> list[str]:
        try:
            return [name for name in os.listdir(self._ticket_dir(ticket_id)) if _UPLOAD_ID.fullmatch(name)]
        except FileNotFoundError:
            return []

    def uploads(self, ticket_id: int, holder: str | None = None) -> list[Upload]:
        """Uploads in progress through the ticket (only ``holder``'s, when given), by key then initiation time."""
        found = [u for name in self._upload_names(ticket_id) if (u := self._load(ticket_id, name))]
        if holder is not None:
            found = [u for u in found if u.holder == holder]
        return sorted(found, key=lambda u: (u.key.encode("utf-8", "surrogatepass"), u.initiated, u.upload_id))

    def ticket_ids(self) -> list[int]:
        """Tickets that have anything in the spool."""
        try:
            return sorted(int(name) for name in os.listdir(self.spool_dir) if name.isascii() and name.isdigit())
        except FileNotFoundError:
            return []

    # -- parts -----------------------------------------------------------------------------------------

    def staged_bytes(self, ticket_id: int) -> int:
        """Bytes staged for the ticket: stored parts at their size, parts still arriving at their declared size."""
        return sum(size for _, _, size in self._staged(ticket_id))

    def _staged(self, ticket_id: int) -> Iterator[tuple[str, int | None, int]]:
        """(upload directory, part number or None, bytes) of every part file and reservation of the ticket."""
        for name in self._upload_names(ticket_id):
            directory = os.path.join(self._ticket_dir(ticket_id), name)
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if _PART_FILE.fullmatch(entry.name):
                    with contextlib.suppress(FileNotFoundError):
                        yield directory, int(entry.name[:5]), entry.stat().st_size
                elif match := _PART_TEMP.fullmatch(entry.name):
                    yield directory, None, int(match.group(2))

    def _reserve(self, upload: Upload, number: int, declared: int, budget: int | None) -> tuple[int, str]:
        """Under the ticket lock: check the budget and create the part's temporary file, locked; ``(fd, path)``."""
        with self._ticket_lock(upload.ticket_id):
            if not os.path.isdir(upload.directory):
                raise no_such_upload(upload.upload_id)
            arriving_same = any(
                (m := _PART_TEMP.fullmatch(name)) and int(m.group(1)) == number for name in os.listdir(upload.directory))
            staged = 0
            for directory, part_number, size in self._staged(upload.ticket_id):
                # A stored part this one replaces stops counting, unless another copy of it is also arriving
                # (then which one ends up stored is open, so both count).
                if directory == upload.directory and part_number == number and not arriving_same:
                    continue
                staged += size
            if staged + declared > self.max_staged_bytes:
                raise S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size: the "
                              f"ticket's multipart uploads in progress may stage at most {self.max_staged_bytes} "
                              "bytes.", details={"MaxSizeAllowed": str(self.max_staged_bytes)})
            if budget is not None and staged + declared > budget:
                raise TicketWriteBytesExceeded(
                    "this part would exceed the ticket's write-byte limit, counting its uploads in progress")
            path = os.path.join(upload.directory, f".part-{number:05d}-{declared}-{secrets.token_urlsafe(9)}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)  # "still arriving": see sweep()
            return fd, path

    def put_part(self, upload: Upload, number: int, stream: BinaryIO | UploadBody, *, declared: int,
                 budget: int | None = None) -> PartEntry:
        """Store part ``number`` (replacing an earlier one) of ``declared`` bytes from ``stream``.

        ``budget``: the ticket's remaining write bytes (``None``: no write-byte limit). Refused before a byte
        is read when the ticket's staged bytes plus ``declared`` would exceed it (``TicketWriteBytesExceeded``)
        or ``max_staged_bytes`` (``EntityTooLarge``). A stream delivering more than ``declared`` is refused;
        any failure keeps nothing.
        """
        if not 1 <= number <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", 400, f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, "
                          "inclusive", details={"ArgumentName": "partNumber"})
        if declared > MAX_PART_SIZE:
            raise S3Error("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size",
                          details={"MaxSizeAllowed": str(MAX_PART_SIZE)})
        fd, temp = self._reserve(upload, number, declared, budget)
        try:
            try:
                # Not synced: a part becomes durable with the object CompleteMultipartUpload writes.
                received = receive(stream, fd, size=None, max_bytes=declared, sync=False,
                                   too_big=_longer_than_declared)
                if not os.path.isdir(upload.directory):  # aborted meanwhile
                    raise no_such_upload(upload.upload_id)
                for old in self._part_files(upload).get(number, []):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(old)
                final = os.path.join(upload.directory, f"{number:05d}.{received.md5}")
                try:
                    os.replace(temp, final)  # still under this file's lock, so never taken for an orphan
                except FileNotFoundError:  # the upload was aborted or swept meanwhile
                    raise no_such_upload(upload.upload_id) from None
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return PartEntry(number, received.size, datetime.fromtimestamp(os.stat(final).st_mtime, UTC), received.md5)

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
            try:
                path = max(files, key=os.path.getmtime)
                st = os.stat(path)
            except FileNotFoundError:
                continue  # replaced meanwhile
            result.append(PartEntry(number, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC),
                                    path.rpartition(".")[2]))
        return result

    def open_part(self, upload: Upload, part: PartEntry) -> BinaryIO:
        """The stored bytes of ``part`` (as :meth:`parts` listed it); ``FileNotFoundError`` when it has been
        replaced or the upload removed since."""
        return open(os.path.join(upload.directory, f"{part.number:05d}.{part.etag}"), "rb")  # noqa: SIM115

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
        return (ConcatenatedParts(files, [part.size for part in chosen]), total,
                multipart_etag([part.etag for part in chosen]))

    def remove(self, upload: Upload) -> None:
        """Forget the upload and its parts (abort, or after completion)."""
        shutil.rmtree(upload.directory, ignore_errors=True)

    # -- clean-up --------------------------------------------------------------------------------------

    def remove_ticket(self, ticket_id: int) -> None:
        """Abort every upload of the ticket (revoked, expired or exhausted)."""
        shutil.rmtree(self._ticket_dir(ticket_id), ignore_errors=True)

    def sweep(self, now: datetime, keep_ticket: Callable[[int], bool]) -> list[str]:
        """Remove what can never complete; return what was removed (for the log: ids, never secrets).

        * every upload of a ticket for which ``keep_ticket(id)`` is false (gone, expired, exhausted);
        * uploads initiated more than ``expiry`` before ``now``;
        * orphans of crashed workers: part files still "arriving" whose lock nobody holds, and half-created
          upload directories older than an hour.
        """
        removed: list[str] = []
        for ticket_id in self.ticket_ids():
            if not keep_ticket(ticket_id):
                self.remove_ticket(ticket_id)
                removed.append(f"ticket {ticket_id}: all uploads")
                continue
            ticket_dir = self._ticket_dir(ticket_id)
            try:
                names = os.listdir(ticket_dir)
            except FileNotFoundError:
                continue
            for name in names:
                path = os.path.join(ticket_dir, name)
                if _NEW_UPLOAD.fullmatch(name):
                    with contextlib.suppress(FileNotFoundError):
                        if time.time() - os.stat(path).st_mtime > _NEW_UPLOAD_GRACE:
                            shutil.rmtree(path, ignore_errors=True)
                            removed.append(f"ticket {ticket_id}: half-created upload")
                    continue
                if not _UPLOAD_ID.fullmatch(name):
                    continue
                upload = self._load(ticket_id, name)
                if upload is None or now - upload.initiated > self.expiry:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(f"ticket {ticket_id}: upload {name[:6]}... (expired)")
                    continue
                # Under the ticket lock: a reservation creates and locks its file in one critical section.
                with self._ticket_lock(ticket_id):
                    removed += [f"ticket {ticket_id}: orphan part" for _ in self._remove_orphans(path)]
        return removed

    @staticmethod
    def _remove_orphans(directory: str) -> Iterator[str]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return
        for name in names:
            if not _PART_TEMP.fullmatch(name):
                continue
            path = os.path.join(directory, name)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a worker is still writing it
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                yield path
            finally:
                os.close(fd)
