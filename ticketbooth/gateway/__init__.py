"""The reference S3 gateway: S3 over the ticket backend's data, plus anonymous ``/_t/`` links.

The decision (:func:`ticketbooth.s3.access.authorize`), routing, the operation table and S3 errors are core
(:mod:`ticketbooth.s3`, shared with ``POST /v1/authorize``) and re-exported here. Modules: :mod:`.ranges` /
:mod:`.conditions` / :mod:`.listing` / :mod:`.s3xml` / :mod:`.linkpage` (pure HTTP and S3 pieces), :mod:`.multipart` (the part
spool), :mod:`.app` (the WSGI application), :mod:`.server` (gunicorn), :mod:`.wsgi` (``app`` for servers).
"""
from __future__ import annotations

from ..s3.access import Decision, RequestParts, authorize, authorize_link, bucket_name, object_path
from ..s3.errors import S3Error, to_s3_error
from ..s3.routing import Route, route
from .app import GatewayApp, create_gateway_app

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
