"""Pure rules for iRODS logical paths: validation, containment and joining.

Containment is decided on path-segment boundaries only, never by string prefix, so a ticket on
``/zone/home/alice/ds1`` never covers ``/zone/home/alice/ds10``. Nothing here touches a file system; the
embedded backend adds its own symlink checks where it maps logical paths onto disk.
"""
from __future__ import annotations

import re

from .errors import InvalidPath

__all__ = ["MAX_PATH_BYTES", "validate_path", "is_within", "relative_to", "join", "parent", "basename", "home_of",
           "listing_key"]

MAX_PATH_BYTES = 1024

_CONTROL = re.compile("[\x00-\x1f\x7f]")  # one search per path, not a Python loop per character (issue 11)


def _check_segments(segments: list[str], original: str) -> None:
    for segment in segments:
        if segment == "":
            raise InvalidPath("path must not contain empty segments ('//')", details={"path": original})
        if segment in (".", ".."):
            raise InvalidPath("path must not contain '.' or '..' segments", details={"path": original})
        if _CONTROL.search(segment):
            raise InvalidPath("path must not contain control characters", details={"path": original})


def validate_path(path: object, zone: str) -> str:
    """Return ``path`` in canonical form (one trailing ``/`` dropped) or raise :class:`InvalidPath`.

    A valid path is a ``str``, absolute, at most :data:`MAX_PATH_BYTES` UTF-8 bytes, has no empty, ``.`` or
    ``..`` segment and no control character, and lies inside ``/<zone>`` below the zone root itself.
    """
    if not isinstance(path, str) or not path:
        raise InvalidPath("path must be a non-empty string")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidPath(f"path must be at most {MAX_PATH_BYTES} bytes")
    if not path.startswith("/"):
        raise InvalidPath("path must be absolute (start with '/')", details={"path": path})
    canonical = path[:-1] if len(path) > 1 and path.endswith("/") and not path.endswith("//") else path
    segments = canonical[1:].split("/")
    _check_segments(segments, path)
    if segments[0] != zone or len(segments) < 2:
        raise InvalidPath(f"path must lie inside the zone '/{zone}'", details={"path": path})
    return canonical


def is_within(root: str, path: str) -> bool:
    """True when ``path`` is ``root`` or lies below it, judged on whole segments."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def relative_to(root: str, path: str) -> str:
    """``path`` relative to ``root`` (``""`` for the root itself); ``ValueError`` when it is not inside."""
    if path == root:
        return ""
    if not is_within(root, path):
        raise ValueError("path is not inside root")
    return path[len(root.rstrip("/")) + 1 :]


def join(root: str, relative: str) -> str:
    """Join a ``/``-separated relative name under ``root``, refusing anything that could escape it.

    ``relative`` may be empty (the root itself). Empty, ``.`` and ``..`` segments and control characters raise
    :class:`InvalidPath`: a relative name is never normalized, so ``a//b`` or ``a/./b`` is an error, not ``a/b``.
    """
    if relative == "":
        return root
    _check_segments(relative.split("/"), relative)
    joined = root.rstrip("/") + "/" + relative
    if len(joined.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidPath(f"path must be at most {MAX_PATH_BYTES} bytes")
    return joined


def parent(path: str) -> str:
    """The collection that holds ``path`` (``/`` for a top-level name)."""
    head, _, _ = path.rstrip("/").rpartition("/")
    return head or "/"


def basename(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]


def home_of(path: str, zone: str) -> str | None:
    """The user whose home (``/<zone>/home/<user>``) contains ``path``, or ``None``."""
    prefix = f"/{zone}/home/"
    if not path.startswith(prefix):
        return None
    user = path[len(prefix) :].split("/", 1)[0]
    return user or None


def listing_key(path: str, is_collection: bool) -> bytes:
    """The key that orders a tree as S3 orders keys: UTF-8 bytes, a collection as if its name ended in ``/``.

    Sorting siblings by it keeps each collection's whole subtree contiguous at its S3 position
    (``a.txt`` < ``a/x`` < ``a0``), so a depth-first walk yields keys in S3 order.
    """
    return (path + "/" if is_collection else path).encode("utf-8", "surrogatepass")
