"""The embedded backend's zone on disk: ``<data_dir>/zone/<zone>/...`` mirrors the logical paths.

Every logical path is mapped below the zone root and refused (``PermissionDenied``) when any existing
component is a symbolic link, so nothing placed in the tree by hand can lead outside it; files are opened with
``O_NOFOLLOW``. Uploads are spooled in ``<data_dir>/.spool`` (same file system, outside the zone tree, so
half-written data is never visible) and moved into place with an atomic ``os.replace``.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ... import paths
from ...errors import BackendError, Conflict, InvalidPath, InvalidRequest, PathNotFound, PermissionDenied

__all__ = ["ZoneStorage", "Spooled", "Entry", "CHUNK_BYTES"]

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """A child found in a collection on disk: its logical path, whether it is a collection, and its stat."""

    path: str
    is_collection: bool
    stat: os.stat_result

    @property
    def sort_key(self) -> bytes:
        return paths.listing_key(self.path, self.is_collection)


@dataclass(frozen=True)
class Spooled:
    """A completely received upload waiting in the spool: where, how many bytes, their MD5 (hex)."""

    temp_path: str
    size: int
    md5: str


def _addressable(name: str) -> bool:
    """Names a logical path can spell: valid UTF-8 (no surrogate escapes) and no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


class ZoneStorage:
    """The zone ``zone`` stored under ``data_dir``. Logical paths must already be valid (``paths.validate_path``)."""

    def __init__(self, data_dir: str, zone: str) -> None:
        self.zone = zone
        self.zone_path = "/" + zone
        zone_dir = os.path.join(data_dir, "zone", zone)
        os.makedirs(os.path.join(zone_dir, "home"), exist_ok=True)
        os.makedirs(os.path.join(data_dir, ".spool"), mode=0o700, exist_ok=True)
        self.root = os.path.realpath(zone_dir)
        self.spool_dir = os.path.realpath(os.path.join(data_dir, ".spool"))

    # -- mapping ---------------------------------------------------------------------------------------

    def disk_path(self, logical: str) -> str:
        """Where ``logical`` lives on disk; ``PermissionDenied`` when a symlink on the way would lead elsewhere."""
        try:
            relative = paths.relative_to(self.zone_path, logical)
        except ValueError:
            raise PermissionDenied("path lies outside the zone") from None
        disk = os.path.join(self.root, *relative.split("/")) if relative else self.root
        # realpath resolves every existing component: any difference means a symlink (or worse) on the way.
        if os.path.realpath(disk) != disk:
            raise PermissionDenied("path is refused: it crosses a symbolic link", details={"path": logical})
        return disk

    def lstat(self, logical: str) -> os.stat_result | None:
        """The ``lstat`` of ``logical``, or ``None`` when nothing is there (or a parent is not a collection)."""
        disk = self.disk_path(logical)
        try:
            return os.lstat(disk)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as err:
            raise _os_error(err, logical) from err

    def kind(self, logical: str) -> str | None:
        """``"collection"``, ``"data_object"`` or ``None`` (nothing, or something that is neither)."""
        st = self.lstat(logical)
        if st is None:
            return None
        if stat.S_ISDIR(st.st_mode):
            return "collection"
        if stat.S_ISREG(st.st_mode):
            return "data_object"
        return None

    # -- reading ---------------------------------------------------------------------------------------

    def children(self, logical: str) -> list[Entry]:
        """The collections and data objects directly in collection ``logical``, in S3 key order.

        Symlinks, special files and names no logical path can spell are left out. ``PathNotFound`` when
        ``logical`` is not a collection.
        """
        if self.kind(logical) != "collection":
            raise PathNotFound(details={"path": logical})
        entries: list[Entry] = []
        with os.scandir(self.disk_path(logical)) as scan:
            for item in scan:
                if not _addressable(item.name):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed while we looked
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    entries.append(Entry(logical.rstrip("/") + "/" + item.name, stat.S_ISDIR(st.st_mode), st))
        entries.sort(key=lambda e: e.sort_key)
        return entries

    def open_read(self, logical: str) -> BinaryIO:
        """A seekable binary stream of the data object ``logical``; ``PathNotFound`` when it is not one."""
        disk = self.disk_path(logical)
        try:
            fd = os.open(disk, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(details={"path": logical}) from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise PermissionDenied("path is refused: it is a symbolic link", details={"path": logical}) from None
            raise _os_error(err, logical) from err
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PathNotFound(details={"path": logical})
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def md5_of(self, logical: str) -> str:
        """Compute the MD5 (hex) of a data object, for files placed on disk by hand."""
        digest = hashlib.md5(usedforsecurity=False)
        with self.open_read(logical) as stream:
            for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
                digest.update(chunk)
        return digest.hexdigest()

    # -- writing ---------------------------------------------------------------------------------------

    def spool(
        self, stream: BinaryIO, *, size: int | None, max_bytes: int | None, too_big: Callable[[], Exception]
    ) -> Spooled:
        """Read ``stream`` to EOF into a spool file, computing its MD5.

        Raises ``too_big()`` as soon as more than ``max_bytes`` arrive (``None``: no cap), ``InvalidRequest``
        when ``size`` is given and the stream's length differs; any exception (the stream's own included)
        removes the spool file and propagates.
        """
        fd, temp_path = tempfile.mkstemp(dir=self.spool_dir, prefix="upload-")
        digest = hashlib.md5(usedforsecurity=False)
        total = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise too_big()
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and size != total:
                raise InvalidRequest("the body's length differs from the declared size", details={"size": size})
        except BaseException:
            discard(temp_path)
            raise
        return Spooled(temp_path, total, digest.hexdigest())

    def place(self, spooled: Spooled, logical: str, *, mtime_ns: int) -> os.stat_result:
        """Move a spooled upload to ``logical`` (replacing a data object), creating missing parent collections.

        ``Conflict`` when a collection is at ``logical`` or a data object stands where a parent collection
        should be. The spool file is left for the caller to discard on error.
        """
        disk = self.disk_path(logical)
        self.make_collections(paths.parent(logical))
        os.utime(spooled.temp_path, ns=(mtime_ns, mtime_ns))
        try:
            os.replace(spooled.temp_path, disk)
        except (IsADirectoryError, NotADirectoryError):
            raise Conflict("a collection exists at that path", details={"path": logical}) from None
        except OSError as err:
            raise _os_error(err, logical) from err
        return os.lstat(disk)

    def make_collections(self, logical: str) -> None:
        """Create collection ``logical`` and its missing parents; ``Conflict`` when a data object is in the way."""
        relative = paths.relative_to(self.zone_path, logical)
        current = self.zone_path
        for segment in relative.split("/") if relative else []:
            current = current + "/" + segment
            disk = self.disk_path(current)
            try:
                os.mkdir(disk, 0o755)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(disk).st_mode):
                    raise Conflict("a data object exists where a collection is needed",
                                   details={"path": current}) from None
            except OSError as err:
                raise _os_error(err, current) from err

    def remove(self, logical: str) -> None:
        """Delete the data object ``logical``; ``PathNotFound`` when there is none. Collections stay."""
        if self.kind(logical) != "data_object":
            raise PathNotFound(details={"path": logical})
        try:
            os.unlink(self.disk_path(logical))
        except FileNotFoundError:
            raise PathNotFound(details={"path": logical}) from None

    def walk_files(self, logical: str, start_after: bytes | None) -> Iterator[Entry]:
        """Every data object below collection ``logical``, at any depth, in byte order of the full path.

        Subtrees wholly at or before ``start_after`` are not descended into.
        """
        for entry in self.children(logical):
            if entry.is_collection:
                prefix = entry.sort_key
                if start_after is not None and prefix < start_after and not start_after.startswith(prefix):
                    continue
                yield from self.walk_files(entry.path, start_after)
            elif start_after is None or entry.sort_key > start_after:
                yield entry


def discard(temp_path: str) -> None:
    """Remove a spool file, if it is still there."""
    try:
        os.unlink(temp_path)
    except FileNotFoundError:
        pass


def _os_error(err: OSError, logical: str) -> Exception:
    if err.errno == errno.ENAMETOOLONG:
        return InvalidPath("a path segment is too long for this zone", details={"path": logical})
    if err.errno == errno.ENOTDIR:
        return Conflict("a data object exists where a collection is needed", details={"path": logical})
    return BackendError("the zone's storage failed")
