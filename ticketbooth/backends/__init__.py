"""Storage backends. Only the configured one is imported, so the iRODS client is needed only when used."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import DataSession, ObjectInfo, TicketBackend

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["DataSession", "ObjectInfo", "TicketBackend", "load_backend"]


def load_backend(settings: Settings) -> TicketBackend:
    """Build the backend ``settings.backend`` names."""
    if settings.backend == "embedded":
        from .embedded import EmbeddedBackend

        return EmbeddedBackend.from_settings(settings)
    if settings.backend == "irods":
        try:
            from .irods import IrodsBackend
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ConfigError("backend 'irods' needs python-irodsclient: pip install python-irodsclient") from err
        return IrodsBackend.from_settings(settings)
    raise ConfigError(f"unknown backend '{settings.backend}'")
