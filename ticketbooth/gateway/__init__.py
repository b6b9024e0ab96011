"""The reference S3 gateway: S3 over the ticket backend's data, plus anonymous ``/_t/`` links.

Modules: :mod:`.authz` (the one request -> decision function, reused by ``POST /v1/authorize``),
:mod:`.routing` (pure operation routing), :mod:`.errors` (S3 errors, the one error mapping),
:mod:`.clientaddr` (client address through trusted proxies), :mod:`.app` (the WSGI application).
Import :func:`ticketbooth.gateway.app.create_gateway_app` to build the app.
"""
from __future__ import annotations
