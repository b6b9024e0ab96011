"""The API application factory: ``create_app(settings=None, *, backend=None, clock=None)``.

No application exists at import time. The factory loads settings (defaults < file < ``TICKETBOOTH_*``), builds
the configured backend, the key resolver and the authenticator, keeps them in ``app.extensions["ticketbooth"]``
(a :class:`Services`), registers the blueprints of ``ticketbooth.api.BLUEPRINTS`` and serves ``/healthz``,
``/readyz``, the OpenAPI document at ``/openapi.json`` and Swagger UI at ``/docs``.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_smorest import Api

from . import __version__, logredact
from .api import BLUEPRINTS
from .api.auth import Authenticator
from .api.docs import docs_blueprint
from .api.errors import ErrorSchema, error_response, handle_http_exception, register_error_handlers
from .audit import AuditTrail
from .auditstore import open_audit_store
from .backends import TicketBackend, load_backend
from .backends.instrumented import instrument
from .errors import ConfigError
from .metrics import count_key_lookup
from .metricsapp import ROUTE_KEY, MetricsMiddleware
from .resolver import KeyResolver
from .responseheaders import security_headers
from .s3.decisions import DecisionLog
from .settings import Settings, load_settings
from .tickets import TicketService

__all__ = ["Services", "create_app", "utc_now", "MAX_REQUEST_BYTES"]

log = logging.getLogger(__name__)

#: Largest request body the API accepts (a ticket request is a few hundred bytes).
MAX_REQUEST_BYTES = 64 * 1024

API_DESCRIPTION = """Create, list, modify and revoke iRODS tickets, and fetch the S3 key pairs bound to them.

Every `/v1` route needs `Authorization: Bearer <JWT>`. Errors are JSON: `{"code", "message", "details"}`.
Every answer carries `X-Request-Id`, the id its log lines and audit events (`GET /v1/events`) name."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """What the views and hooks of one app share (``app.extensions["ticketbooth"]``)."""

    settings: Settings
    backend: TicketBackend
    resolver: KeyResolver
    clock: Callable[[], datetime]
    authenticator: Authenticator
    tickets: TicketService
    audit: AuditTrail
    decisions: DecisionLog
    _provisioned: set[str] = field(default_factory=set, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def provision(self, user: str) -> None:
        """Create ``user``'s home on first sight when the backend provisions users (the embedded one does)."""
        ensure_user = getattr(self.backend, "ensure_user", None)
        if ensure_user is None or user in self._provisioned:
            return
        ensure_user(user)
        with self._lock:
            self._provisioned.add(user)


def _master_key(settings: Settings, backend: TicketBackend) -> bytes:
    own = getattr(backend, "master_key", None)
    if callable(own):
        return own()
    if not settings.s3.master_key:
        raise ConfigError(f"setting 's3.master_key' is required with backend '{settings.backend}'")
    return settings.s3.master_key.encode("utf-8")


class _Api(Api):
    # Document the error body the handlers in api/errors.py really send.
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: Any) -> Response:  # type: ignore[override]
        return handle_http_exception(error)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


def _health(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process serves requests."""
        return jsonify({"status": "ok", "version": __version__})

    @app.get("/readyz")
    def readyz() -> Response:
        """Readiness: the backend can serve."""
        unavailable = services.backend.readiness_error()
        if unavailable is not None:
            return error_response(503, unavailable.code, unavailable.message, None,
                                  {"Retry-After": str(unavailable.retry_after)})
        return jsonify({"status": "ready"})


def create_app(
    settings: Settings | None = None,
    *,
    backend: TicketBackend | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """Build the API application. Raises :class:`ConfigError` for an invalid configuration."""
    settings = load_settings() if settings is None else settings
    clock = utc_now if clock is None else clock
    if backend is None:
        backend = load_backend(settings)
    backend = instrument(backend)
    resolver = KeyResolver(backend, _master_key(settings, backend), ttl=settings.s3.key_cache_ttl,
                           on_lookup=count_key_lookup)
    audit = AuditTrail(open_audit_store(settings), clock)
    services = Services(
        settings=settings,
        backend=backend,
        resolver=resolver,
        clock=clock,
        authenticator=Authenticator(settings.auth, clock=clock),
        tickets=TicketService(settings, backend, resolver, clock, audit),
        audit=audit,
        decisions=DecisionLog(audit, resolver, backend),
    )
    logging.getLogger("ticketbooth").setLevel(settings.log_level.upper())
    logredact.install()  # whatever server runs us: no token or secret in any log line

    app = Flask("ticketbooth")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        API_TITLE="TicketBooth",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "security": [{"bearerAuth": []}],
        },
    )
    app.extensions["ticketbooth"] = services
    api = _Api(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_blueprint("TicketBooth"))  # Swagger UI from the pinned package, no CDN
    register_error_handlers(app)
    _health(app, services)

    @app.before_request
    def _name_route() -> None:
        request.environ[ROUTE_KEY] = request.url_rule.rule if request.url_rule is not None else "unmatched"

    app.wsgi_app = MetricsMiddleware(app.wsgi_app, "api", settings)  # type: ignore[method-assign]

    @app.after_request
    def _no_content_type_without_content(response: Response) -> Response:
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        return response

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # One place for every answer (Swagger UI included), so no template needs to remember them.
        body = None if response.is_streamed else response.get_data()
        ui = str(app.config.get("OPENAPI_SWAGGER_UI_URL") or "")
        sources = [_origin(ui)] if ui.startswith(("https://", "http://")) else []
        for name, value in security_headers(response.mimetype, body, sources).items():
            response.headers.setdefault(name, value)
        return response

    return app
