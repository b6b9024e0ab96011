"""Serve the gateway with gunicorn (threaded workers), configured programmatically.

The access log never shows a query string (presigned URLs carry ``X-Amz-Signature`` there) nor the ticket
string of an anonymous link (``/_t/<string>/...`` is logged as ``/_t/<redacted>/...``).
"""
from __future__ import annotations

from typing import Any

from ..settings import Settings

__all__ = ["serve_gateway", "redact_path", "ACCESS_LOG_FORMAT"]

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'


def redact_path(path: str) -> str:
    """``path`` without an anonymous link's ticket string."""
    if path.startswith("/_t/"):
        rest = path[4:].partition("/")[2]
        return "/_t/<redacted>/" + rest
    return path


def _logger_class() -> Any:
    from gunicorn.glogging import Logger

    class RedactingLogger(Logger):  # type: ignore[misc]
        def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
            atoms = super().atoms(resp, req, environ, request_time)
            raw_path = environ.get("PATH_INFO", "")
            path = redact_path(raw_path)
            hidden = [value for value in (environ.get("QUERY_STRING", ""),
                                          raw_path[4:].partition("/")[0] if raw_path.startswith("/_t/") else "")
                      if value]
            for name, value in atoms.items():
                if isinstance(value, str):
                    for secret in hidden:
                        value = value.replace(secret, "<redacted>")
                    atoms[name] = value
            atoms["U"] = path
            atoms["q"] = ""
            atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"
            atoms["f"] = "-"  # a Referer may hold a link
            return atoms

    return RedactingLogger


def serve_gateway(settings: Settings, *, threads: int = 8, workers: int = 1) -> None:
    """Run gunicorn on ``settings.gateway.host:port`` until interrupted; the app is built in each worker."""
    from ..serving import run_gunicorn
    from .app import create_gateway_app

    run_gunicorn(lambda: create_gateway_app(settings), host=settings.gateway.host, port=settings.gateway.port,
                 workers=workers, threads=threads, log_level=settings.log_level,
                 access_log_format=ACCESS_LOG_FORMAT, logger_class=_logger_class(),
                 timeout=300,  # large uploads stream for a while
                 keepalive=5)
