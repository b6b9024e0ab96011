"""The iRODS backend (python-irodsclient): imported only when ``backend = "irods"`` is configured.

``connection`` makes sessions, ``errors`` maps iRODS errors, ``catalog`` reads tickets with GenQuery, ``data``
is the per-use data session and ``backend`` ties them into :class:`IrodsBackend`. See docs/irods.md.
"""
from __future__ import annotations

from .backend import IrodsBackend

__all__ = ["IrodsBackend"]
