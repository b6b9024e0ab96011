"""The one table of S3 operations the gateway offers: how each is selected, what it needs, who serves it.

Routing (:mod:`.routing`), authorization (:mod:`.access`) and dispatch (``ticketbooth.gateway.app``) all read
:data:`OPERATIONS`; adding an operation is one row here plus its handler (and a line in ``docs/gateway.md``'s
operation table, which a test checks). Pure data: no I/O, no web framework.

Selection: a request's method and level (service ``/``, bucket ``/b``, object ``/b/k``) pick the rows to
consider; the **first** row, in table order, whose query keys and headers are all present wins. So a row that
needs more selectors comes before a row of the same method and level that needs fewer (a test checks that no
row is shadowed by an earlier one).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Level", "Operation", "OPERATIONS", "BY_NAME", "select"]


class Level(StrEnum):
    """Which part of the S3 namespace a request names."""

    SERVICE = "service"  # "/"
    BUCKET = "bucket"  # "/<bucket>"
    OBJECT = "object"  # "/<bucket>/<key>"


@dataclass(frozen=True)
class Operation:
    """One S3 operation.

    ``query_keys``: query parameters that must be present (``"name"``) or have a value (``"name=value"``);
    ``headers``: lower-case request headers that must be present. ``action``: the ticket action
    (``ticketbooth.policy`` READ_ACTIONS / WRITE_ACTIONS) it needs. ``handler``: the name of the gateway
    method that serves it (``GatewayApp`` binds every row's handler when it is built). ``folder_keys``: a key
    ending in ``/`` (an S3 "folder marker") names the collection without the slash; elsewhere such a key
    names nothing (read) or is refused (write).
    """

    name: str
    method: str
    level: Level
    query_keys: tuple[str, ...]
    action: str
    handler: str
    headers: tuple[str, ...] = ()
    folder_keys: bool = False

    def matches(self, params: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """Whether the request's decoded query ``params`` and lower-case ``headers`` select this row."""
        for wanted in self.query_keys:
            name, has_value, value = wanted.partition("=")
            if name not in params or (has_value and params[name] != value):
                return False
        return all(name in headers for name in self.headers)


_S, _B, _O = Level.SERVICE, Level.BUCKET, Level.OBJECT

#: Every operation, in selection order (see the module docstring).
OPERATIONS: tuple[Operation, ...] = (
    Operation("ListBuckets", "GET", _S, (), "list", "_op_ListBuckets"),
    Operation("GetBucketLocation", "GET", _B, ("location",), "stat", "_op_GetBucketLocation"),
    Operation("ListMultipartUploads", "GET", _B, ("uploads",), "list", "_op_ListMultipartUploads"),
    Operation("ListObjectsV2", "GET", _B, ("list-type=2",), "list", "_op_ListObjectsV2"),
    Operation("ListObjectsV1", "GET", _B, (), "list", "_op_ListObjectsV1"),
    Operation("HeadBucket", "HEAD", _B, (), "stat", "_op_HeadBucket"),
    Operation("CreateBucket", "PUT", _B, (), "stat", "_op_CreateBucket"),
    Operation("DeleteObjects", "POST", _B, ("delete",), "delete", "_op_DeleteObjects"),
    Operation("ListParts", "GET", _O, ("uploadId",), "list", "_op_ListParts"),
    Operation("GetObjectAttributes", "GET", _O, ("attributes",), "stat", "_op_GetObjectAttributes"),
    Operation("GetObject", "GET", _O, (), "read", "_op_GetObject", folder_keys=True),
    Operation("HeadObject", "HEAD", _O, (), "stat", "_op_HeadObject", folder_keys=True),
    Operation("UploadPartCopy", "PUT", _O, ("partNumber", "uploadId"), "write", "_op_UploadPartCopy",
              headers=("x-amz-copy-source",)),
    Operation("UploadPart", "PUT", _O, ("partNumber", "uploadId"), "write", "_op_UploadPart"),
    Operation("CopyObject", "PUT", _O, (), "write", "_op_CopyObject", headers=("x-amz-copy-source",)),
    Operation("PutObject", "PUT", _O, (), "write", "_op_PutObject", folder_keys=True),
    Operation("AbortMultipartUpload", "DELETE", _O, ("uploadId",), "write", "_op_AbortMultipartUpload"),
    Operation("DeleteObject", "DELETE", _O, (), "delete", "_op_DeleteObject", folder_keys=True),
    Operation("CreateMultipartUpload", "POST", _O, ("uploads",), "write", "_op_CreateMultipartUpload"),
    Operation("CompleteMultipartUpload", "POST", _O, ("uploadId",), "write", "_op_CompleteMultipartUpload"),
)

#: Operations by name.
BY_NAME: Mapping[str, Operation] = {op.name: op for op in OPERATIONS}


def select(method: str, level: Level, params: Mapping[str, str], headers: Mapping[str, str]) -> Operation | None:
    """The first row of :data:`OPERATIONS` the request selects, or ``None``."""
    method = method.upper()
    return next((op for op in OPERATIONS
                 if op.method == method and op.level is level and op.matches(params, headers)), None)
