"""Serve the gateway with gunicorn (threaded workers), configured programmatically.

The access log never shows a query string (presigned URLs carry ``X-Amz-Signature`` there) nor the ticket
string of an anonymous link (``/_t/<string>/...`` is logged as ``/_t/<redacted>/...``): see ``accesslog``.
"""
from __future__ import annotations

from ..settings import Settings
from .accesslog import ACCESS_LOG_FORMAT, redact_path

__all__ = ["serve_gateway", "redact_path", "ACCESS_LOG_FORMAT"]


def serve_gateway(settings: Settings, *, threads: int | None = None, workers: int | None = None) -> None:
    """Run gunicorn on ``settings.gateway.host:port`` until interrupted; the app is built in each worker.

    Defaults: one worker process per usable CPU, ``GATEWAY_THREADS`` threads each (docs/gateway.md, *Workers and
    threads*).
    """
    from ..cpus import usable_cpus
    from ..gunicornlog import TicketBoothLogger
    from ..serving import GATEWAY_THREADS, run_gunicorn
    from .app import create_gateway_app

    workers = usable_cpus() if workers is None else workers
    threads = GATEWAY_THREADS if threads is None else threads
    run_gunicorn(lambda: create_gateway_app(settings), host=settings.gateway.host, port=settings.gateway.port,
                 workers=workers, threads=threads, log_level=settings.log_level, metrics=settings.metrics,
                 access_log_format=ACCESS_LOG_FORMAT, logger_class=TicketBoothLogger,
                 control_socket_disable=True,  # no ~/.gunicorn control socket for a gateway nobody steers
                 timeout=300,  # large uploads stream for a while
                 keepalive=5)
