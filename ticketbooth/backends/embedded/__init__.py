"""The embedded backend (the default): SQLite catalogue plus a data directory acting as a small iRODS zone."""
from __future__ import annotations

from .backend import MAX_PAGE_SIZE, EmbeddedBackend
from .session import EmbeddedSession

__all__ = ["EmbeddedBackend", "EmbeddedSession", "MAX_PAGE_SIZE"]
