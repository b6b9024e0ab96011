"""The embedded backend's zone on disk: ``<data_dir>/zone/<zone>/...`` mirrors the logical paths.

Paths are resolved without following any symbolic link and without a gap between a check and a use: every
operation walks from a directory file descriptor of the zone root, opening one component at a time with
``O_NOFOLLOW | O_DIRECTORY`` relative to the previous one (``openat``), and then works on what it opened:
``fstat`` of the fd, ``openat``/``unlinkat``/``renameat``/``fstatat`` relative to the parent's fd, ``scandir``
of a directory fd. A component swapped for a symlink at any moment makes the walk fail (``PermissionDenied``)
instead of leading outside the zone; the directories a walk holds open cannot be redirected.

Uploads are spooled in ``<data_dir>/.spool`` (same file system, outside the zone tree, so half-written data is
never visible) and renamed into place relative to both directory fds. Everything created here is private to the
service's user whatever the umask: directories 0700, files 0600.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ... import paths
from ...errors import BackendError, Conflict, InvalidPath, PathNotFound, PermissionDenied
from ...privatefiles import DIR_MODE, FILE_MODE, make_private_dirs
from ...spool import UploadBody, receive
from .beneath import open_beneath

__all__ = ["ZoneStorage", "Spooled", "Entry", "Touched", "kind_of"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO placed in the tree must not hang a worker (it is refused after fstat);
# it changes nothing for regular files.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_SPOOL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Entry:
    """A child found in a collection on disk: its logical path, whether it is a collection, and its lstat."""

    path: str
    is_collection: bool
    stat: os.stat_result

    @property
    def sort_key(self) -> bytes:
        return paths.listing_key(self.path, self.is_collection)


@dataclass(frozen=True)
class Spooled:
    """A completely received upload waiting in the spool: its name in the spool, how many bytes, their MD5."""

    name: str
    size: int
    md5: str


@dataclass(frozen=True)
class Touched:
    """A collection whose entries an operation changed: its modification time before (``None``: the operation
    created it) and after."""

    path: str
    before_ns: int | None
    after_ns: int


def _addressable(name: str) -> bool:
    """Names a logical path can spell: valid UTF-8 (no surrogate escapes) and no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:  # pragma: no cover - closing an fd we own does not fail in practice
        pass


_REPLACED = ".replaced"  # spool name + this: the object a PUT replaced, until discard()


def kind_of(st: os.stat_result | None) -> str | None:
    """What an ``lstat`` result shows: ``"collection"``, ``"data_object"`` or ``None`` (nothing, or neither)."""
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        return "collection"
    if stat.S_ISREG(st.st_mode):
        return "data_object"
    return None


class ZoneStorage:
    """The zone ``zone`` stored under ``data_dir``. Logical paths must already be valid (``paths.validate_path``).

    Holds directory fds of the zone root and the spool until :meth:`close`.
    """

    def __init__(self, data_dir: str, zone: str) -> None:
        self.zone = zone
        self.zone_path = "/" + zone
        zone_dir = os.path.join(data_dir, "zone", zone)
        make_private_dirs(os.path.join(zone_dir, "home"))
        make_private_dirs(os.path.join(data_dir, ".spool"))
        # The data directory itself is the administrator's: its path is trusted, links and all.
        self.root = os.path.realpath(zone_dir)
        self.spool_dir = os.path.realpath(os.path.join(data_dir, ".spool"))
        self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._spool_fd = os.open(self.spool_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except BaseException:
            os.close(self._root_fd)
            raise

    def close(self) -> None:
        for fd in (self._root_fd, self._spool_fd):
            if fd >= 0:
                _close(fd)
        self._root_fd = self._spool_fd = -1

    # -- walking ---------------------------------------------------------------------------------------

    def segments(self, logical: str) -> list[str]:
        """The components of ``logical`` below the zone root; ``PermissionDenied`` outside the zone."""
        try:
            relative = paths.relative_to(self.zone_path, logical)
        except ValueError:
            raise PermissionDenied("path lies outside the zone") from None
        return relative.split("/") if relative else []

    def _open_child_dir(self, parent_fd: int, name: str, logical: str) -> int:
        """``openat(parent_fd, name, O_DIRECTORY | O_NOFOLLOW)``; errors mapped (symlink: ``PermissionDenied``)."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                # Only to name the error: the open already refused, so nothing was followed.
                try:
                    is_link = stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
                except OSError:
                    is_link = False
                if is_link or err.errno == errno.ELOOP:
                    raise PermissionDenied("path is refused: it crosses a symbolic link",
                                           details={"path": logical}) from None
            raise _os_error(err, logical) from err

    def _open_dir(self, segments: Sequence[str], logical: str, *, create: bool = False,
                  touched: list[tuple[str, int, int | None]] | None = None) -> int:
        """A new fd of the collection at ``segments``, walked one component at a time from the zone root.

        With ``create``, missing collections are made (0700); ``touched`` then collects ``(logical, fd,
        mtime before)`` of the first existing parent and of every collection made (fds owned by the caller),
        whose entries changed. ``PathNotFound`` when a component is missing (without ``create``); ``Conflict``
        when one is a data object; ``PermissionDenied`` when one is a symbolic link.
        """
        if not create and segments:
            try:  # the kernel's walk, as strict as the one below, in one call; its failures are named below
                return open_beneath(self._root_fd, "/".join(segments), _DIR_FLAGS)
            except OSError:
                pass
        current = os.dup(self._root_fd)
        walked = self.zone_path
        try:
            for segment in segments:
                walked = walked + "/" + segment
                made = False
                if create:
                    before = os.fstat(current).st_mtime_ns if touched is not None and not touched else None
                    try:
                        os.mkdir(segment, DIR_MODE, dir_fd=current)
                        made = True
                    except FileExistsError:
                        pass
                    except OSError as err:
                        raise _os_error(err, walked) from err
                child = self._open_child_dir(current, segment, walked)
                if made and touched is not None:
                    if not touched:
                        touched.append((paths.parent(walked), os.dup(current), before))
                    touched.append((walked, os.dup(child), None))
                os.close(current)
                current = child
            return current
        except BaseException:
            os.close(current)
            raise

    def _parent(self, logical: str, *, create: bool = False,
                touched: list[tuple[str, int, int | None]] | None = None) -> tuple[int, str]:
        """(fd of the parent collection, last component) of ``logical``; the caller closes the fd."""
        segments = self.segments(logical)
        if not segments:
            raise PermissionDenied("the zone root is not addressable", details={"path": logical})
        return self._open_dir(segments[:-1], paths.parent(logical), create=create, touched=touched), segments[-1]

    # -- reading ---------------------------------------------------------------------------------------

    def lstat(self, logical: str) -> os.stat_result | None:
        """The ``lstat`` of ``logical``, or ``None`` when nothing is there (or a parent is not a collection).

        ``PermissionDenied`` when ``logical`` or a component on the way is a symbolic link.
        """
        segments = self.segments(logical)
        if not segments:
            return os.fstat(self._root_fd)
        try:
            fd, name = self._parent(logical)
        except (PathNotFound, Conflict):
            return None
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise _os_error(err, logical) from err
        finally:
            os.close(fd)
        if stat.S_ISLNK(st.st_mode):
            raise PermissionDenied("path is refused: it is a symbolic link", details={"path": logical})
        return st

    def kind(self, logical: str) -> str | None:
        """``"collection"``, ``"data_object"`` or ``None`` (nothing, or something that is neither)."""
        return kind_of(self.lstat(logical))

    def _open_collection(self, logical: str) -> int:
        try:
            return self._open_dir(self.segments(logical), logical)
        except Conflict:
            raise PathNotFound(details={"path": logical}) from None

    @staticmethod
    def _scan(fd: int, logical: str) -> list[Entry]:
        """The collections and regular files in the directory ``fd`` (logical path ``logical``), in key order."""
        entries: list[Entry] = []
        base = logical.rstrip("/") + "/"
        with os.scandir(fd) as scan:
            for item in scan:
                if not _addressable(item.name):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed while we looked
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    entries.append(Entry(base + item.name, stat.S_ISDIR(st.st_mode), st))
        entries.sort(key=lambda e: e.sort_key)
        return entries

    def children(self, logical: str) -> list[Entry]:
        """The collections and data objects directly in collection ``logical``, in S3 key order.

        Symlinks, special files and names no logical path can spell are left out. ``PathNotFound`` when
        ``logical`` is not a collection; ``PermissionDenied`` when a component is a symbolic link.
        """
        fd = self._open_collection(logical)
        try:
            return self._scan(fd, logical)
        finally:
            os.close(fd)

    def walk(self, logical: str, start_after: bytes | None = None, *, files_only: bool = True,
             empty_collections: bool = False) -> Iterator[Entry]:
        """Everything below collection ``logical``, at any depth, depth-first in S3 key order.

        Entries with a key at or before ``start_after`` are left out and subtrees wholly before it are not
        descended into. With ``files_only`` only data objects are yielded (and, with ``empty_collections``, the
        collections that hold nothing: S3's folder markers). Each directory is opened once,
        relative to its parent's fd (so the cost is linear in what is walked, whatever the depth); a
        sub-directory swapped for anything else between the scan and the open is skipped.
        """
        stack: list[tuple[int, Iterator[Entry]]] = []
        fd = self._open_collection(logical)
        try:
            stack.append((fd, iter(self._scan(fd, logical))))
            while stack:
                fd, pending = stack[-1]
                entry = next(pending, None)
                if entry is None:
                    os.close(fd)
                    stack.pop()
                    continue
                key = entry.sort_key
                if not entry.is_collection:
                    if start_after is None or key > start_after:
                        yield entry
                    continue
                if start_after is not None and key < start_after and not start_after.startswith(key):
                    continue
                if not files_only and (start_after is None or key > start_after):
                    yield entry
                try:
                    child = os.open(paths.basename(entry.path), _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                try:
                    below = self._scan(child, entry.path)
                except BaseException:
                    os.close(child)
                    raise
                if not below and files_only and empty_collections and (start_after is None or key > start_after):
                    yield entry
                stack.append((child, iter(below)))
        finally:
            for fd, _ in stack:
                _close(fd)

    def dir_mtimes(self, logicals: Sequence[str]) -> Iterator[int | None]:
        """The modification time (ns) of each collection in ``logicals`` (``None``: not a collection).

        Keeps the directories on the way open between items, so a list in key order costs one ``openat`` per
        new component, not one walk from the root per item.
        """
        stack: list[tuple[str, int]] = []  # (segment, fd) from the zone root down
        try:
            for logical in logicals:
                segments = self.segments(logical)
                same = 0
                while same < len(stack) and same < len(segments) and stack[same][0] == segments[same]:
                    same += 1
                while len(stack) > same:
                    _close(stack.pop()[1])
                parent = stack[-1][1] if stack else self._root_fd
                missing = False
                for segment in segments[same:]:
                    try:
                        fd = os.open(segment, _DIR_FLAGS, dir_fd=parent)
                    except OSError:
                        missing = True
                        break
                    stack.append((segment, fd))
                    parent = fd
                yield None if missing else os.fstat(parent).st_mtime_ns
        finally:
            for _, fd in stack:
                _close(fd)

    def open_read(self, logical: str) -> BinaryIO:
        """A seekable binary stream of the data object ``logical``; ``PathNotFound`` when it is not one."""
        try:
            fd = open_beneath(self._root_fd, "/".join(self.segments(logical)), _READ_FLAGS)
        except OSError:
            return self._open_read_walking(logical)
        return self._reader(fd, logical)

    def _open_read_walking(self, logical: str) -> BinaryIO:
        try:
            parent, name = self._parent(logical)
        except Conflict:
            raise PathNotFound(details={"path": logical}) from None
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(details={"path": logical}) from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise PermissionDenied("path is refused: it is a symbolic link", details={"path": logical}) from None
            if err.errno == errno.ENXIO:  # a socket or a FIFO without a writer
                raise PathNotFound(details={"path": logical}) from None
            raise _os_error(err, logical) from err
        finally:
            os.close(parent)
        return self._reader(fd, logical)

    @staticmethod
    def _reader(fd: int, logical: str) -> BinaryIO:
        """The stream of ``fd`` (closed on failure) when it is a regular file; ``PathNotFound`` otherwise."""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PathNotFound(details={"path": logical})
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    # -- writing ---------------------------------------------------------------------------------------

    def spool(
        self, stream: BinaryIO | UploadBody, *, size: int | None, max_bytes: int | None, too_big: Callable[[], Exception]
    ) -> Spooled:
        """Read ``stream`` to EOF into a spool file (0600), hashing it in the same pass (``spool.receive``).

        Raises ``too_big()`` as soon as more than ``max_bytes`` arrive (``None``: no cap), ``InvalidRequest``
        when ``size`` is given and the stream's length differs; any exception (the stream's own included)
        removes the spool file and propagates.
        """
        name = "upload-" + secrets.token_hex(12)
        fd = os.open(name, _SPOOL_FLAGS, FILE_MODE, dir_fd=self._spool_fd)
        spooled = Spooled(name, 0, "")
        try:
            try:
                # direct: the upload goes to disk without passing through (and evicting) the page cache.
                received = receive(stream, fd, size=size, max_bytes=max_bytes, too_big=too_big, direct=True)
            finally:
                os.close(fd)
        except BaseException:
            self.discard(spooled)
            raise
        return Spooled(name, received.size, received.md5)

    def discard(self, spooled: Spooled) -> None:
        """Remove a spool file, if it is still there, and the file it replaced (see :meth:`place`)."""
        for name in (spooled.name, spooled.name + _REPLACED):
            try:
                os.unlink(name, dir_fd=self._spool_fd)
            except FileNotFoundError:
                pass

    def place(self, spooled: Spooled, logical: str, *, mtime_ns: int) -> tuple[os.stat_result, list[Touched]]:
        """Move a spooled upload to ``logical`` (replacing a data object), creating missing parent collections.

        Returns the new file's stat and the collections whose entries changed (with their new mtimes).
        ``Conflict`` when a collection is at ``logical`` or a data object stands where a parent collection
        should be; ``PermissionDenied`` when a symlink is on the way or at ``logical``. The spool file is left
        for the caller to discard on error.
        """
        opened: list[tuple[str, int, int | None]] = []
        parent, name = self._parent(logical, create=True, touched=opened)
        try:
            try:
                existing = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            except OSError as err:
                raise _os_error(err, logical) from err
            # rename() would replace a link rather than follow it; refusing keeps the tree's links visible.
            if existing is not None and stat.S_ISLNK(existing.st_mode):
                raise PermissionDenied("path is refused: it is a symbolic link", details={"path": logical})
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise Conflict("a collection exists at that path", details={"path": logical})
            if not opened:
                opened.append((paths.parent(logical), os.dup(parent), os.fstat(parent).st_mtime_ns))
            if existing is not None and stat.S_ISREG(existing.st_mode):
                # A second name for the file being replaced keeps rename() a swap of names: freeing its blocks
                # (about 1 ms on ext4, under the catalogue's write lock here) happens in discard(), after it.
                with contextlib.suppress(OSError):  # no hard links here: rename() frees it, as it did
                    os.link(name, spooled.name + _REPLACED, src_dir_fd=parent, dst_dir_fd=self._spool_fd,
                            follow_symlinks=False)
            os.utime(spooled.name, ns=(mtime_ns, mtime_ns), dir_fd=self._spool_fd, follow_symlinks=False)
            try:
                os.replace(spooled.name, name, src_dir_fd=self._spool_fd, dst_dir_fd=parent)
            except (IsADirectoryError, NotADirectoryError):
                raise Conflict("a collection exists at that path", details={"path": logical}) from None
            except OSError as err:
                raise _os_error(err, logical) from err
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            return st, _touched(opened)
        finally:
            os.close(parent)
            for _, fd, _ in opened:
                _close(fd)

    def make_collections(self, logical: str) -> list[Touched]:
        """Create collection ``logical`` and its missing parents (0700); ``Conflict`` when a data object is in
        the way. Returns the collections whose entries changed (none when everything existed)."""
        opened: list[tuple[str, int, int | None]] = []
        try:
            os.close(self._open_dir(self.segments(logical), logical, create=True, touched=opened))
            return _touched(opened)
        finally:
            for _, fd, _ in opened:
                _close(fd)

    def remove(self, logical: str) -> Touched:
        """Delete the data object ``logical``; ``PathNotFound`` when there is none. Collections stay.

        Returns the parent collection with its new mtime.
        """
        def unlink(name: str, parent: int) -> None:
            # unlinkat never follows a link: whatever is at the name now, only the name goes.
            try:
                os.unlink(name, dir_fd=parent)
            except (FileNotFoundError, IsADirectoryError):  # gone, or swapped for a collection since the stat
                raise PathNotFound(details={"path": logical}) from None

        return self._remove_entry(logical, stat.S_ISREG, unlink)

    def remove_collection(self, logical: str) -> Touched:
        """Remove the empty collection ``logical``; ``PathNotFound`` when none is there, ``Conflict`` when it
        holds anything. Returns the parent collection with its new mtime."""
        def rmdir(name: str, parent: int) -> None:
            # rmdir at the parent fd never follows a link, and refuses a collection that holds anything.
            try:
                os.rmdir(name, dir_fd=parent)
            except (FileNotFoundError, NotADirectoryError):
                raise PathNotFound(details={"path": logical}) from None
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise Conflict("the collection is not empty", details={"path": logical}) from None
                raise _os_error(err, logical) from err

        return self._remove_entry(logical, stat.S_ISDIR, rmdir)

    def _remove_entry(self, logical: str, is_kind: Callable[[int], bool],
                      remove: Callable[[str, int], None]) -> Touched:
        """Remove the entry ``logical`` of the kind ``is_kind`` (a ``stat.S_IS*`` test) with ``remove(name,
        parent_fd)``; ``PathNotFound`` when no such entry is there, ``PermissionDenied`` for a symlink.
        Returns the parent collection with its new mtime."""
        try:
            parent, name = self._parent(logical)
        except Conflict:
            raise PathNotFound(details={"path": logical}) from None
        try:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                raise PathNotFound(details={"path": logical}) from None
            if stat.S_ISLNK(st.st_mode):
                raise PermissionDenied("path is refused: it is a symbolic link", details={"path": logical})
            if not is_kind(st.st_mode):
                raise PathNotFound(details={"path": logical})
            before = os.fstat(parent).st_mtime_ns
            remove(name, parent)
            return Touched(paths.parent(logical), before, os.fstat(parent).st_mtime_ns)
        finally:
            os.close(parent)


def _touched(opened: list[tuple[str, int, int | None]]) -> list[Touched]:
    return [Touched(path, before, os.fstat(fd).st_mtime_ns) for path, fd, before in opened]


def _os_error(err: OSError, logical: str) -> Exception:
    if err.errno == errno.ENAMETOOLONG:
        return InvalidPath("a path segment is too long for this zone", details={"path": logical})
    if err.errno == errno.ENOTDIR:
        return Conflict("a data object exists where a collection is needed", details={"path": logical})
    if err.errno == errno.ENOENT:
        return PathNotFound(details={"path": logical})
    if err.errno == errno.ELOOP:
        return PermissionDenied("path is refused: it crosses a symbolic link", details={"path": logical})
    return BackendError("the zone's storage failed")
