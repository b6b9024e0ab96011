"""S3 object metadata as iRODS AVUs: one documented, namespaced attribute scheme (``docs/irods.md``).

On a data object:

* ``s3.content-type``, ``s3.cache-control``, ``s3.content-disposition``, ``s3.content-encoding``,
  ``s3.content-language``, ``s3.expires``: the system headers S3 returns;
* ``s3.meta.<name>``: the user metadata ``x-amz-meta-<name>`` (``<name>`` lower-case, as S3 keeps it).

On a collection: ``s3.implicit`` = ``true`` marks one that a write created as a parent (removed again when its
last object is deleted through S3). Anything set in the ``s3.`` namespace from iRODS (``imeta set -d obj
s3.meta.project x``) shows over S3 and vice versa; no other attribute is read or touched. iRODS keeps no empty
AVU value, so an empty header value is not stored.

The writes go through the service (admin) session with ``ADMIN_KW``: the gateway has already checked the path
against the ticket, and a ticket holder may write an object (iRODS checks that) without owning it, which
``imeta`` would otherwise require.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..base import ObjectMetadata

__all__ = ["PREFIX", "USER_PREFIX", "IMPLICIT", "SYSTEM_ATTRIBUTES", "to_avus", "from_avus", "object_avus",
           "read_object", "replace_object", "is_implicit", "mark_implicit"]

PREFIX = "s3."
USER_PREFIX = "s3.meta."
IMPLICIT = "s3.implicit"
#: ObjectMetadata field -> AVU attribute.
SYSTEM_ATTRIBUTES: Mapping[str, str] = {field: PREFIX + field.replace("_", "-") for field in ObjectMetadata.SYSTEM}
_FIELDS = {attribute: field for field, attribute in SYSTEM_ATTRIBUTES.items()}


def to_avus(metadata: ObjectMetadata | None) -> dict[str, str]:
    """The AVUs (attribute -> value) that represent ``metadata`` (pure; empty values left out)."""
    if metadata is None:
        return {}
    avus = {SYSTEM_ATTRIBUTES[field]: value for field, value in metadata.system().items() if value}
    avus.update({USER_PREFIX + name: value for name, value in metadata.user.items() if name and value})
    return avus


def from_avus(avus: Iterable[tuple[str, str]]) -> ObjectMetadata:
    """The metadata that ``(attribute, value)`` pairs of an object spell (pure; other attributes ignored;
    of several values of one attribute the last wins)."""
    system: dict[str, str] = {}
    user: dict[str, str] = {}
    for attribute, value in avus:
        if attribute in _FIELDS:
            system[_FIELDS[attribute]] = value
        elif attribute.startswith(USER_PREFIX) and len(attribute) > len(USER_PREFIX):
            user[attribute[len(USER_PREFIX):].lower()] = value
    return ObjectMetadata(**system, user=dict(sorted(user.items())))  # type: ignore[arg-type]


def object_avus(session: Any, path: str) -> list[tuple[str, str]]:
    """Every ``s3.*`` AVU of the data object ``path`` as sorted ``(attribute, value)`` pairs (one catalog query;
    the object layout, ``s3.layout``, is among them)."""
    from irods.column import Like
    from irods.models import Collection, DataObject, DataObjectMeta

    collection, _, name = path.rpartition("/")
    query = session.query(DataObjectMeta.name, DataObjectMeta.value).filter(
        Collection.name == collection, DataObject.name == name, Like(DataObjectMeta.name, PREFIX + "%"))
    return sorted((row[DataObjectMeta.name], row[DataObjectMeta.value]) for row in query.get_results())


def read_object(session: Any, path: str) -> ObjectMetadata:
    """The S3 metadata of the data object ``path`` (a catalog query on ``session``)."""
    return from_avus(object_avus(session, path))


def replace_object(session: Any, path: str, metadata: ObjectMetadata | None,
                   current: Iterable[tuple[str, str]] | None = None) -> None:
    """Make the ``s3.*`` AVUs of data object ``path`` exactly those of ``metadata`` (admin session).

    ``current`` are the object's ``s3.*`` AVUs as the caller just read them (:func:`object_avus`); without them
    they are read here (one query)."""
    from irods.keywords import ADMIN_KW
    from irods.meta import iRODSMeta
    from irods.models import DataObject

    wanted = to_avus(metadata)
    kept: dict[str, str] = {}
    for attribute, value in (object_avus(session, path) if current is None else current):
        if wanted.get(attribute) != value:
            session.metadata.remove(DataObject, path, iRODSMeta(attribute, value), **{ADMIN_KW: ""})
        else:
            kept[attribute] = value
    for attribute, value in wanted.items():
        if kept.get(attribute) != value:
            session.metadata.set(DataObject, path, iRODSMeta(attribute, value), **{ADMIN_KW: ""})


def is_implicit(session: Any, collection: str) -> bool:
    """Whether ``collection`` carries ``s3.implicit`` (a write created it)."""
    from irods.models import Collection, CollectionMeta

    query = session.query(CollectionMeta.value).filter(Collection.name == collection,
                                                       CollectionMeta.name == IMPLICIT)
    return any(True for _ in query.get_results())


def mark_implicit(session: Any, collection: str, implicit: bool = True) -> None:
    """Set (or, ``implicit=False``, clear) ``s3.implicit`` on ``collection`` (admin session)."""
    from irods.keywords import ADMIN_KW
    from irods.meta import iRODSMeta
    from irods.models import Collection

    if implicit:
        session.metadata.set(Collection, collection, iRODSMeta(IMPLICIT, "true"), **{ADMIN_KW: ""})
    elif is_implicit(session, collection):
        session.metadata.remove(Collection, collection, iRODSMeta(IMPLICIT, "true"), **{ADMIN_KW: ""})
