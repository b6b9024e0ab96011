"""WSGI entry point for production servers: ``gunicorn ticketbooth.wsgi:app``.

Configuration comes from ``$TICKETBOOTH_CONFIG`` (a TOML file) and ``TICKETBOOTH_*`` variables.
"""
from __future__ import annotations

import logging

from .app import create_app

__all__ = ["app"]

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app()
