"""``app`` for WSGI servers::

    gunicorn --threads 8 -b 127.0.0.1:9000 --logger-class ticketbooth.gateway.accesslog.RedactingLogger \
        ticketbooth.gateway.wsgi:app

(the logger class keeps presigned signatures and link ticket strings out of the access log).

Settings come from ``$TICKETBOOTH_CONFIG`` and ``TICKETBOOTH_*`` variables (``ticketbooth.settings``).
"""
from __future__ import annotations

from ..logs import configure_logging
from ..settings import load_settings
from .app import create_gateway_app

__all__ = ["app"]

_settings = load_settings()
configure_logging(_settings.log_format, _settings.log_level)
app = create_gateway_app(_settings)
