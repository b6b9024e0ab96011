"""Ticket labels as AVUs on the ticket's target: iRODS tickets have no label field.

The label of ticket ``<id>`` is the AVU ``ticketbooth.label.<id>`` = label on the collection or data object the
ticket is for. The owner's proxied session sets it (an owner may always change metadata on what they own; an
admin acting on someone else's ticket passes ``ADMIN_KW``). The ticket row stays the source of truth: a label is
read only for a ticket that exists and only from that ticket's own target, so an AVU left behind by a ticket
deleted out of band (``iticket delete``) is ignored, and a new ticket can never inherit it (iRODS never reuses
ids).
"""
from __future__ import annotations

from typing import Any

from ...model import TargetKind

__all__ = ["ATTRIBUTE_PREFIX", "label_attribute", "ticket_id_of", "remove_label", "set_label"]

ATTRIBUTE_PREFIX = "ticketbooth.label."


def label_attribute(ticket_id: int) -> str:
    """The AVU attribute that holds ticket ``ticket_id``'s label (pure)."""
    return f"{ATTRIBUTE_PREFIX}{int(ticket_id)}"


def ticket_id_of(attribute: str) -> int | None:
    """The ticket id a label attribute names, or ``None`` for any other attribute (pure)."""
    suffix = attribute[len(ATTRIBUTE_PREFIX):] if attribute.startswith(ATTRIBUTE_PREFIX) else ""
    return int(suffix) if suffix.isdigit() and suffix == str(int(suffix)) else None


def _model(kind: TargetKind) -> Any:
    from irods.models import Collection, DataObject

    return DataObject if kind is TargetKind.DATA_OBJECT else Collection


def set_label(session: Any, kind: TargetKind, path: str, ticket_id: int, label: str, **options: str) -> None:
    """Make ``label`` the only value of the ticket's label AVU on ``path`` (``imeta set``)."""
    from irods.meta import iRODSMeta

    session.metadata.set(_model(kind), path, iRODSMeta(label_attribute(ticket_id), label), **options)


def remove_label(session: Any, kind: TargetKind, path: str, ticket_id: int, label: str, **options: str) -> None:
    """Remove the ticket's label AVU (with its current value ``label``) from ``path`` (``imeta rm``)."""
    from irods.meta import iRODSMeta

    session.metadata.remove(_model(kind), path, iRODSMeta(label_attribute(ticket_id), label), **options)
