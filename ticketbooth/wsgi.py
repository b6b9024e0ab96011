"""WSGI entry point for production servers: ``gunicorn ticketbooth.wsgi:app``.

Configuration comes from ``$TICKETBOOTH_CONFIG`` (a TOML file) and ``TICKETBOOTH_*`` variables.
"""
from __future__ import annotations

from .app import create_app
from .logs import configure_logging
from .settings import load_settings

__all__ = ["app"]

_settings = load_settings()
configure_logging(_settings.log_format, _settings.log_level)
app = create_app(_settings)
