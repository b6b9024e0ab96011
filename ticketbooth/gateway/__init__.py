"""The reference S3 gateway: S3 over the ticket backend's data, plus anonymous ``/_t/`` links.

Modules: :mod:`.authz` (the one request -> decision function, reused by ``POST /v1/authorize``),
:mod:`.routing` (pure operation routing), :mod:`.errors` (S3 errors, the one error mapping),
:mod:`.clientaddr` (client address through trusted proxies), :mod:`.ranges` / :mod:`.conditions` /
:mod:`.listing` / :mod:`.s3xml` / :mod:`.linkpage` (pure HTTP and S3 pieces), :mod:`.multipart` (the part
spool), :mod:`.app` (the WSGI application), :mod:`.server` (gunicorn), :mod:`.wsgi` (``app`` for servers).
"""
from __future__ import annotations

from .app import GatewayApp, create_gateway_app
from .authz import Decision, RequestParts, authorize, authorize_link, bucket_name, object_path
from .errors import S3Error, to_s3_error
from .routing import Route, route

__all__ = [
    "GatewayApp",
    "create_gateway_app",
    "Decision",
    "RequestParts",
    "authorize",
    "authorize_link",
    "bucket_name",
    "object_path",
    "S3Error",
    "to_s3_error",
    "Route",
    "route",
]
