"""The gunicorn logger of both processes: the secret-free access log of :mod:`.gateway.accesslog`, in the
configured line format.

With ``log_format = "json"`` (:func:`ticketbooth.logs.log_format`) gunicorn's error log and access log become
JSON lines like every other logger's; an access line carries the request id the response was sent with
(``X-Request-Id`` or ``x-amz-request-id``) and an ``http`` object built from the already redacted atoms (no query
string, no link ticket string, no Referer).
"""
from __future__ import annotations

import traceback
from typing import Any

from .gateway.accesslog import RedactingLogger
from .logs import formatter, log_format

__all__ = ["TicketBoothLogger"]

_REQUEST_ID_HEADERS = ("x-request-id", "x-amz-request-id")


class TicketBoothLogger(RedactingLogger):
    """``logger_class`` of ``ticketbooth serve`` / ``gateway`` and of ``ticketbooth.gunicorn_conf``."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if log_format() == "json":
            for handler in [*self.error_log.handlers, *self.access_log.handlers]:
                handler.setFormatter(formatter("json"))

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if log_format() != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        headers = {str(name).lower(): value for name, value in (getattr(resp, "headers", None) or [])}
        request_id = next((headers[name] for name in _REQUEST_ID_HEADERS if name in headers), None)
        http = {"method": atoms.get("m"), "path": atoms.get("U"), "status": atoms.get("s"),
                "bytes": atoms.get("B"), "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "client": atoms.get("h"), "user_agent": atoms.get("a")}
        try:
            self.access_log.info(self.cfg.access_log_format, self.atoms_wrapper_class(atoms),
                                 extra={"request_id": request_id, "http": http})
        except Exception:  # noqa: BLE001 - as gunicorn's own access(): a bad format must not break requests
            self.error(traceback.format_exc())

