"""gunicorn configuration for plain gunicorn runs of either process, from TicketBooth's own settings::

    gunicorn -c python:ticketbooth.gunicorn_conf --workers 4 --threads 8 -b 127.0.0.1:8080 ticketbooth.wsgi:app
    gunicorn -c python:ticketbooth.gunicorn_conf --workers 4 -b 127.0.0.1:9000 ticketbooth.gateway.wsgi:app

It installs the metrics hooks of :mod:`ticketbooth.multiproc` (workers share one set of metrics; the extra
``metrics.port`` is bound), the ``log_format`` of every line, and the access logger that keeps secrets out
(``ticketbooth.gunicornlog``, built on ``ticketbooth.gateway.accesslog``).
Settings come from ``$TICKETBOOTH_CONFIG`` and ``TICKETBOOTH_*`` variables, as for the application itself.
"""
from __future__ import annotations

from .gateway.accesslog import ACCESS_LOG_FORMAT
from .logs import configure_logging
from .multiproc import hooks
from .settings import load_settings

_settings = load_settings()
configure_logging(_settings.log_format, _settings.log_level)
_hooks = hooks(_settings.metrics.multiproc_dir, _settings.metrics.port)

on_starting = _hooks["on_starting"]
child_exit = _hooks["child_exit"]
on_exit = _hooks["on_exit"]
logger_class = "ticketbooth.gunicornlog.TicketBoothLogger"
access_log_format = ACCESS_LOG_FORMAT
accesslog = "-"  # access lines on stdout, error lines on stderr (gunicorn's default), as `ticketbooth serve` does
control_socket_disable = True  # gunicorn >= 24 would open ~/.gunicorn/gunicorn.ctl; nothing here steers it
