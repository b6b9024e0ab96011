"""Object layouts (``base.ObjectLayout``: the S3 ETag, part sizes and checksum the gateway answered) as one iRODS
AVU on the data object, ``s3.layout`` = compact JSON, written through the service session like the other
``s3.*`` AVUs (``s3meta``). The value also records the data object's size and modify time when it was written:
a layout applies only while both are unchanged, so an object replaced from iRODS (or through S3, which also
rewrites the ``s3.*`` AVUs) loses it. iRODS keeps at most 2700 bytes in an AVU value: part checksums are
dropped first, and a layout that still does not fit (thousands of parts) is not kept.
"""
from __future__ import annotations

import json
from typing import Any

from ..base import ObjectLayout

__all__ = ["LAYOUT", "encode", "decode", "read", "read_collection", "read_range", "write"]

LAYOUT = "s3.layout"
MAX_VALUE = 2700


def encode(layout: ObjectLayout, modified: int) -> str | None:
    """The AVU value for ``layout`` of an object last modified at ``modified`` (epoch seconds), or ``None``."""
    data: dict[str, Any] = {**layout.to_dict(), "modified": modified}
    for attempt in range(2):
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        if len(text.encode("utf-8")) <= MAX_VALUE:
            return text
        if attempt == 0:
            data["part_checksums"] = []
    return None


def decode(text: str | None, size: int, modified: int) -> ObjectLayout | None:
    """The layout ``text`` holds if it was written for an object of this ``size`` and ``modified`` time."""
    if not text:
        return None
    try:
        data = json.loads(text)
        layout = ObjectLayout.from_dict(data)
        if layout.size != size or int(data["modified"]) != modified:
            return None
        return layout
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def read(session: Any, path: str) -> str | None:
    """The ``s3.layout`` value of data object ``path`` (a catalog query)."""
    from irods.models import Collection, DataObject, DataObjectMeta

    collection, _, name = path.rpartition("/")
    query = session.query(DataObjectMeta.value).filter(
        Collection.name == collection, DataObject.name == name, DataObjectMeta.name == LAYOUT)
    values = [row[DataObjectMeta.value] for row in query.get_results()]
    return values[-1] if values else None


def read_collection(session: Any, collection: str) -> dict[str, str]:
    """The ``s3.layout`` values of the data objects directly in ``collection``, by name: one catalog query for a
    whole listed collection, so a listing answers the kept ETags without a query per key."""
    from irods.models import Collection, DataObject, DataObjectMeta

    query = session.query(DataObject.name, DataObjectMeta.value).filter(
        Collection.name == collection, DataObjectMeta.name == LAYOUT)
    return {row[DataObject.name]: row[DataObjectMeta.value] for row in query.get_results()}


def read_range(session: Any, collection: str, low: str, high: str) -> dict[str, str]:
    """The ``s3.layout`` values of the data objects in ``collection`` whose names lie from ``low`` to ``high``
    (by the catalog's order; both already safe to quote): one query for one batch of a listing."""
    from irods.models import Collection, DataObject, DataObjectMeta

    query = session.query(DataObject.name, DataObjectMeta.value).filter(
        Collection.name == collection, DataObjectMeta.name == LAYOUT, DataObject.name >= low, DataObject.name <= high)
    return {row[DataObject.name]: row[DataObjectMeta.value] for row in query.get_results()}


def write(session: Any, path: str, text: str) -> None:
    """Set ``s3.layout`` of ``path`` to ``text`` (admin session, replacing any value)."""
    from irods.keywords import ADMIN_KW
    from irods.meta import iRODSMeta
    from irods.models import DataObject

    session.metadata.set(DataObject, path, iRODSMeta(LAYOUT, text), **{ADMIN_KW: ""})
