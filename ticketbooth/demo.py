"""Demo data for ``ticketbooth serve --demo``: users ``alice`` and ``bob``, group ``lab``, and a few files.

Seeding is idempotent and never overwrites: a file is written only where nothing exists yet, so whatever a
user changed in the demo zone survives a restart with ``--demo``.
"""
from __future__ import annotations

import hashlib

from .backends.embedded import EmbeddedBackend

__all__ = ["DEMO_USERS", "DEMO_GROUP", "demo_files", "seed_demo"]

DEMO_USERS = ("alice", "bob")
DEMO_GROUP = ("lab", DEMO_USERS)
IMAGE_BYTES = 16 * 1024


def _image_bytes() -> bytes:
    # Deterministic pseudo-random content (SHA-256 in counter mode): the same bytes and ETag on every machine.
    blocks = (hashlib.sha256(b"ticketbooth-demo-image-%d" % n).digest() for n in range(IMAGE_BYTES // 32))
    return b"".join(blocks)


def demo_files(zone: str) -> dict[str, bytes]:
    """The demo data objects by logical path."""
    home = f"/{zone}/home/alice"
    readme = (
        "Dataset 1: demo data for TicketBooth.\n\n"
        "Share it with a ticket:\n"
        f"  POST /v1/tickets {{\"path\": \"{home}/ds1\"}}\n"
    ).encode()
    rows = ["timestamp,sensor,value"] + [
        f"2024-01-01T00:{minute:02d}:00Z,s{minute % 3 + 1},{20 + (minute * 7) % 10 / 10:.1f}" for minute in range(60)
    ]
    return {
        f"{home}/ds1/README.txt": readme,
        f"{home}/ds1/data/measurements.csv": ("\n".join(rows) + "\n").encode(),
        f"{home}/ds1/data/image.bin": _image_bytes(),
        f"{home}/ds10/notes.txt": b"Dataset 10: a neighbour of ds1 that a ticket on ds1 must not reach.\n",
        f"{home}/hello.txt": b"Hello from TicketBooth!\n",
    }


def seed_demo(backend: EmbeddedBackend) -> list[str]:
    """Provision the demo users, group and files in ``backend``; return the paths written this time."""
    for user in DEMO_USERS:
        backend.ensure_user(user)
    name, members = DEMO_GROUP
    backend.ensure_group(name, members)
    written = []
    for path, content in demo_files(backend.zone).items():
        if backend.path_kind(path) is None:
            backend.put_object(path, content)
            written.append(path)
    return written
