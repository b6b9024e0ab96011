"""A gunicorn access logger that never writes a presigned signature or an anonymous link's ticket string.

Presigned URLs carry ``X-Amz-Signature`` (or SigV2's ``Signature``) in the query string, and anonymous links
carry the ticket string in the path (``/_t/<string>/...``); both are bearer secrets. ``ticketbooth serve`` and
``ticketbooth gateway`` use this logger; with plain gunicorn pass
``--logger-class ticketbooth.gateway.accesslog.RedactingLogger`` (the applications redact the error log
themselves, see :mod:`ticketbooth.logredact`; this class also keeps the access log's atoms clean).
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from ..logredact import install, redact_path

__all__ = ["RedactingLogger", "redact_path", "ACCESS_LOG_FORMAT"]

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with the query string dropped and link ticket strings redacted from every atom.

    It also installs :func:`ticketbooth.logredact.install` in the process, so the error log (malformed request
    lines, "Error handling request <uri>", the debug ``pre_request`` line) is redacted too.
    """

    def setup(self, cfg: Any) -> None:
        install()
        super().setup(cfg)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        if self.cfg.access_log_format == ACCESS_LOG_FORMAT:
            # TicketBooth's own format (and the JSON line) name only these: gunicorn's atoms() adds every
            # request header, response header and environ entry, and redacting them all was an eighth of a
            # small request's time (issue 11 item 6).
            status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
            sent = getattr(resp, "sent", None)
            atoms: dict[str, Any] = {
                "h": environ.get("REMOTE_ADDR", "-"), "t": self.now(), "s": status,
                "m": environ.get("REQUEST_METHOD"), "b": str(sent) if sent is not None else "-", "B": sent,
                "a": environ.get("HTTP_USER_AGENT", "-"),
                "L": f"{request_time.seconds}.{request_time.microseconds:06d}",
            }
        else:
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
