"""The S3 protocol core shared by the gateway and the API: which operation a request is, may this key do it to
this path now, and the S3 errors that say no.

Modules: :mod:`.operations` (the one table of S3 operations), :mod:`.routing` (pure addressing and operation
choice), :mod:`.access` (the request -> decision function behind the gateway and ``POST /v1/authorize``),
:mod:`.errors` (S3 errors and the one mapping of every other error onto them), :mod:`.clientaddr` (client
address through trusted proxies). Nothing here imports a web framework; the decision reaches the outside
world only through the backend it is handed.
"""
from __future__ import annotations

from .access import Decision, RequestParts, authorize, authorize_link, bucket_name, object_path
from .errors import S3Error, to_s3_error
from .operations import OPERATIONS, Level, Operation
from .routing import Route, locate, resolve, route

__all__ = [
    "Decision",
    "RequestParts",
    "authorize",
    "authorize_link",
    "bucket_name",
    "object_path",
    "S3Error",
    "to_s3_error",
    "OPERATIONS",
    "Level",
    "Operation",
    "Route",
    "locate",
    "resolve",
    "route",
]
