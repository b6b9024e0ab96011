"""How many CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota.

A container limited with ``--cpus 2`` on a 64-core host still sees 64 CPUs in its affinity mask; only its cgroup
says it gets two CPUs' worth of time. The default worker count of ``ticketbooth gateway`` follows what this
module finds, as nginx's ``worker_processes auto`` follows the mask and Go's runtime the quota.

The cgroup files are found from ``/proc/self/mountinfo`` (where each cgroup hierarchy is mounted, and which of
its directories the mount shows) and ``/proc/self/cgroup`` (the process's directory in each hierarchy), so a
container whose cgroup mount shows only its own part of the tree is read correctly. cgroup v2 (``cpu.max``)
and v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) are both read; every directory from the process's own up
to the mount counts, the smallest quota wins. Anything unreadable counts as no quota.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["usable_cpus", "cpu_quota", "CgroupMount", "parse_mountinfo", "parse_proc_cgroup"]


@dataclass(frozen=True)
class CgroupMount:
    """A mounted cgroup hierarchy that can carry a CPU quota: ``version`` 2, or 1 with the ``cpu`` controller."""

    version: int
    root: str  # the directory of the hierarchy that the mount shows
    mount_point: str


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup v2 mounts and cgroup v1 ``cpu`` mounts in ``/proc/self/mountinfo`` text (proc(5))."""
    mounts = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            mounts.append(CgroupMount(2, root, mount_point))
        elif tail[0] == "cgroup" and "cpu" in tail[2].split(","):
            mounts.append(CgroupMount(1, root, mount_point))
    return mounts


def parse_proc_cgroup(text: str) -> dict[int, str]:
    """The process's cgroup path in the v2 hierarchy (key 2) and in the v1 hierarchy holding ``cpu`` (key 1)."""
    paths: dict[int, str] = {}
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            paths[2] = path
        elif "cpu" in controllers.split(","):
            paths[1] = path
    return paths


def cpu_quota(mounts: list[CgroupMount], paths: dict[int, str], read: Callable[[str], str | None]) -> float | None:
    """The smallest CPU quota (in CPUs, may be fractional) on the way from the process's cgroup directories up
    to their mounts, or None when there is none. ``read(path)`` returns a file's text, or None if unreadable."""
    quotas = []
    for mount in mounts:
        path = paths.get(mount.version)
        if path is None:
            continue
        for directory in _directories(mount, path):
            if mount.version == 2:
                quota = _quota_v2(read(os.path.join(directory, "cpu.max")))
            else:
                quota = _quota_v1(read(os.path.join(directory, "cpu.cfs_quota_us")),
                                  read(os.path.join(directory, "cpu.cfs_period_us")))
            if quota is not None:
                quotas.append(quota)
    return min(quotas, default=None)


def usable_cpus() -> int:
    """The CPUs this process may run on (affinity mask), lowered to its cgroup CPU quota rounded up; at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    mounts = parse_mountinfo(_read("/proc/self/mountinfo") or "")
    quota = cpu_quota(mounts, parse_proc_cgroup(_read("/proc/self/cgroup") or ""), _read)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(cpus, 1)


def _directories(mount: CgroupMount, path: str) -> list[str]:
    """The process's directory under ``mount`` and each parent up to the mount point. A path outside what the
    mount shows (a cgroup namespace that does not match) leaves only the mount point."""
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return [mount.mount_point]
    relative = [part for part in path[len(root):].split("/") if part]
    return [os.path.join(mount.mount_point, *relative[:depth]) for depth in range(len(relative), -1, -1)]


def _quota_v2(text: str | None) -> float | None:
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return _ratio(parts[0], parts[1])


def _quota_v1(quota: str | None, period: str | None) -> float | None:
    if quota is None or period is None:
        return None
    return _ratio(quota.strip(), period.strip())


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None  # v1 writes -1 for "no quota"


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, plain)
    return field


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as stream:
            return stream.read()
    except OSError:
        return None
