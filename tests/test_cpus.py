"""``ticketbooth.cpus``: the gateway's default worker count, from the affinity mask and a cgroup CPU quota."""
from __future__ import annotations

import os

import pytest

from ticketbooth import cpus
from ticketbooth.cpus import CgroupMount, cpu_quota, parse_mountinfo, parse_proc_cgroup

# Lines as a hybrid host (v1 controllers beside a v2 mount) and a Docker container (cgroup v2, own namespace)
# write them; the fields before " - " are id, parent, dev, root, mount point, options.
HYBRID = """\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
32 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
33 25 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
"""


def test_mountinfo_keeps_the_v2_mount_and_the_v1_cpu_mount_only():
    assert parse_mountinfo(HYBRID) == [CgroupMount(2, "/", "/sys/fs/cgroup/unified"),
                                       CgroupMount(1, "/", "/sys/fs/cgroup/cpu,cpuacct")]
    spaced = r"40 1 0:50 /a\040b /mnt/c\040g rw - cgroup2 cgroup2 rw" + "\nnot a mountinfo line\n"
    assert parse_mountinfo(spaced) == [CgroupMount(2, "/a b", "/mnt/c g")]


def test_proc_cgroup_names_the_v2_path_and_the_v1_cpu_path():
    text = "12:cpuset:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/y\n0::/system.slice/tb.service\n"
    assert parse_proc_cgroup(text) == {1: "/docker/abc", 2: "/system.slice/tb.service"}
    assert parse_proc_cgroup("") == {}


def tree(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return cpus._read


def test_v2_quota_of_the_process_directory_and_of_its_parents_smallest_wins(tmp_path):
    read = tree(tmp_path, {"cg/cpu.max": "max 100000\n", "cg/tb.slice/cpu.max": "350000 100000\n",
                           "cg/tb.slice/svc/cpu.max": "max 100000\n"})
    mount = [CgroupMount(2, "/", str(tmp_path / "cg"))]
    assert cpu_quota(mount, {2: "/tb.slice/svc"}, read) == 3.5
    tree(tmp_path, {"cg/cpu.max": "150000 100000\n"})
    assert cpu_quota(mount, {2: "/tb.slice/svc"}, read) == 1.5
    assert cpu_quota(mount, {1: "/tb.slice/svc"}, read) is None  # no v2 path for this process


def test_v1_quota_and_its_no_quota_value(tmp_path):
    read = tree(tmp_path, {"cpu/docker/abc/cpu.cfs_quota_us": "200000\n", "cpu/docker/abc/cpu.cfs_period_us": "100000\n",
                           "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    mount = [CgroupMount(1, "/", str(tmp_path / "cpu"))]
    assert cpu_quota(mount, {1: "/docker/abc"}, read) == 2.0
    assert cpu_quota(mount, {1: "/"}, read) is None


def test_a_mount_that_shows_only_the_containers_part_of_the_tree(tmp_path):
    # Without a cgroup namespace the process's path is the host's (/docker/abc) while the mount shows that
    # directory itself as its root: the quota is at the mount point, not below it.
    read = tree(tmp_path, {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"})
    mount = [CgroupMount(1, "/docker/abc", str(tmp_path / "cpu"))]
    assert cpu_quota(mount, {1: "/docker/abc"}, read) == 0.5
    assert cpu_quota(mount, {1: "/elsewhere"}, read) == 0.5  # outside what the mount shows: the mount point only


@pytest.mark.parametrize("text", ["", "max", "garbage 100000", "100000 0", "0 100000", "1 2 3"])
def test_unreadable_or_odd_cpu_max_is_no_quota(tmp_path, text):
    read = tree(tmp_path, {"cg/cpu.max": text})
    assert cpu_quota([CgroupMount(2, "/", str(tmp_path / "cg"))], {2: "/"}, read) is None
    assert cpu_quota([CgroupMount(2, "/", str(tmp_path / "missing"))], {2: "/"}, read) is None


def test_usable_cpus_is_the_mask_lowered_to_the_quota_rounded_up(tmp_path, monkeypatch):
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "cpu.max").write_text("150000 100000\n")
    files = {"/proc/self/mountinfo": f"26 25 0:24 / {tmp_path / 'cg'} rw - cgroup2 cgroup2 rw\n",
             "/proc/self/cgroup": "0::/\n"}
    real_read = cpus._read
    monkeypatch.setattr(cpus, "_read", lambda path: files[path] if path in files else real_read(path))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert cpus.usable_cpus() == 2
    (tmp_path / "cg" / "cpu.max").write_text("max 100000\n")
    assert cpus.usable_cpus() == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    (tmp_path / "cg" / "cpu.max").write_text("20000 100000\n")
    assert cpus.usable_cpus() == 1
