"""Request and response schemas of the tickets resource (marshmallow 4).

Schemas check shape and types only; the ticket rules (names, limits, expiry, anonymous policy) live in
``ticketbooth.policy`` so that every entry point applies the same ones.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ....clientconfig import FORMATS
from ....model import Access, TargetKind, TicketStatus
from ....tickets import Credentials, S3Address, TicketList, TicketView

__all__ = [
    "CREDENTIAL_FORMATS",
    "TicketCreateSchema",
    "TicketPatchSchema",
    "TicketListQuerySchema",
    "CredentialsQuerySchema",
    "S3AddressSchema",
    "TicketS3Schema",
    "TicketUsageSchema",
    "CredentialsSchema",
    "TicketSchema",
    "TicketListSchema",
    "credentials_data",
    "ticket_data",
    "ticket_list_data",
]

CREDENTIAL_FORMATS = ("json", *FORMATS)
# Far enough for any real expiry, near enough that rounding up a second never overflows datetime.
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_names = dict(metadata={"description": "iRODS user names"})


def _limit(description: str) -> fields.Integer:
    return fields.Integer(strict=True, metadata={"description": description + " (0: no limit)"})


def _expires_at(allow_none: bool) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso",
        allow_none=allow_none,
        validate=validate.Range(max=_LATEST, error="expires_at is too far in the future"),
        metadata={"description": "RFC 3339 date-time with a time zone" + ("; null: never expire" if allow_none else "")},
    )


class _LimitsAndLists(ma.Schema):
    users = fields.List(fields.String(), metadata={"description": "users allowed to use the ticket"})
    groups = fields.List(fields.String(), metadata={"description": "groups whose members may use the ticket"})
    hosts = fields.List(fields.String(), metadata={"description": "client IP addresses or CIDR networks allowed"})
    expires_in = fields.Integer(strict=True, metadata={"description": "seconds from now until expiry"})
    uses_limit = _limit("uses allowed")
    write_file_limit = _limit("files that may be written")
    write_byte_limit = _limit("bytes that may be written")


class TicketCreateSchema(_LimitsAndLists):
    path = fields.String(required=True, metadata={"description": "absolute iRODS logical path (collection or data object)"})
    access = fields.String(
        validate=validate.OneOf([a.value for a in Access]), metadata={"description": "read (default) or write"}
    )
    anonymous = fields.Boolean(metadata={"description": "a public ticket usable without identity (default false)"})
    expires_at = _expires_at(allow_none=False)
    label = fields.String(metadata={"description": "free text, at most 256 characters"})


class TicketPatchSchema(_LimitsAndLists):
    expires_at = _expires_at(allow_none=True)
    label = fields.String(allow_none=True, metadata={"description": "free text; null clears it"})


class TicketListQuerySchema(ma.Schema):
    owner = fields.String(metadata={"description": "tickets of this owner (admins: anyone; others: themselves)"})
    all = fields.Boolean(load_default=False, metadata={"description": "admins: tickets of every owner"})
    shared_with = fields.String(
        validate=validate.OneOf(["me"]),
        metadata={"description": "'me': tickets whose allow-lists admit the caller, instead of owned ones"},
    )
    path = fields.String(metadata={"description": "only tickets on this path or below it (whole segments)"})
    anonymous = fields.Boolean(metadata={"description": "only anonymous (true) or user-scoped (false) tickets"})
    status = fields.String(validate=validate.OneOf([s.value for s in TicketStatus]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "page size, 1 to 1000"})
    cursor = fields.String(validate=validate.Length(max=512),
                           metadata={"description": "next_cursor of the previous page"})


class CredentialsQuerySchema(ma.Schema):
    format = fields.String(
        load_default="json", validate=validate.OneOf(CREDENTIAL_FORMATS),
        metadata={"description": "json, or a client configuration: " + ", ".join(FORMATS)},
    )


class S3AddressSchema(ma.Schema):
    endpoint_url = fields.String(required=True)
    region = fields.String(required=True)
    bucket = fields.String(required=True)
    key_prefix = fields.String(
        required=True, metadata={"description": "'' for a collection; the object's name for a data object"}
    )


class TicketS3Schema(S3AddressSchema):
    public_bucket = fields.String(metadata={"description": (
        "anonymous tickets, owner/admin only: the bucket unsigned S3 requests read the data through "
        "(derived from the ticket string, like links.public; dies with the ticket)")})


class CredentialsSchema(S3AddressSchema):
    """A key pair together with the S3 addressing it works against."""

    ticket_id = fields.Integer(required=True)
    holder = fields.String(required=True, metadata={"description": "the user the pair belongs to ('anonymous': shared)"})
    access_key_id = fields.String(required=True)
    secret_access_key = fields.String(required=True)


class _LinksSchema(ma.Schema):
    self = fields.String(required=True)
    credentials = fields.String(required=True)
    public = fields.String(metadata={"description": "anonymous tickets, owner/admin only: the capability URL"})


class TicketUsageSchema(ma.Schema):
    first_used_at = fields.DateTime(allow_none=True, metadata={"description": "first granted use through TicketBooth"})
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "latest granted use through TicketBooth"})
    granted = fields.Integer(required=True, metadata={"description": "S3, link and authorize requests granted"})
    denied = fields.Integer(required=True, metadata={
        "description": "requests refused that named this ticket (each is a 'denied' event in /v1/events)"})


class TicketSchema(ma.Schema):
    id = fields.Integer(required=True)
    ticket = fields.String(allow_none=True, metadata={"description": "the iRODS ticket string (owner and admins only)"})
    path = fields.String(required=True)
    target_kind = fields.String(required=True, validate=validate.OneOf([k.value for k in TargetKind]))
    access = fields.String(required=True, validate=validate.OneOf([a.value for a in Access]))
    anonymous = fields.Boolean(required=True)
    owner = fields.String(required=True)
    users = fields.List(fields.String(), required=True)
    groups = fields.List(fields.String(), required=True)
    hosts = fields.List(fields.String(), required=True)
    uses_limit = fields.Integer(required=True)
    uses_count = fields.Integer(required=True)
    write_file_limit = fields.Integer(required=True)
    write_file_count = fields.Integer(required=True)
    write_byte_limit = fields.Integer(required=True)
    write_byte_count = fields.Integer(required=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    modified_at = fields.DateTime(allow_none=True)
    label = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in TicketStatus]))
    s3 = fields.Nested(TicketS3Schema, required=True)
    usage = fields.Nested(TicketUsageSchema, required=True, metadata={
        "description": "uses seen by this TicketBooth deployment (the audit store); not iRODS's own uses_count"})
    links = fields.Nested(_LinksSchema, required=True)
    credentials = fields.Nested(
        CredentialsSchema, metadata={"description": "the caller's key pair: only in the response to a create"}
    )


class TicketListSchema(ma.Schema):
    items = fields.List(fields.Nested(TicketSchema), required=True)
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as cursor for the next page"})


def _address(address: S3Address) -> dict[str, Any]:
    return {"endpoint_url": address.endpoint_url, "region": address.region, "bucket": address.bucket,
            "key_prefix": address.key_prefix}


def credentials_data(credentials: Credentials) -> dict[str, Any]:
    return {"ticket_id": credentials.ticket_id, "holder": credentials.holder,
            "access_key_id": credentials.access_key_id, "secret_access_key": credentials.secret_access_key,
            **_address(credentials.s3)}


def ticket_data(view: TicketView) -> dict[str, Any]:
    """The JSON resource of a ticket as its caller may see it."""
    t = view.ticket
    links = {"self": f"/v1/tickets/{t.id}", "credentials": f"/v1/tickets/{t.id}/credentials"}
    if view.public_url is not None:
        links["public"] = view.public_url
    data: dict[str, Any] = {
        "id": t.id, "ticket": view.ticket_string, "path": t.path, "target_kind": t.target_kind.value,
        "access": t.access.value, "anonymous": t.anonymous, "owner": t.owner, "users": list(t.users),
        "groups": list(t.groups), "hosts": list(t.hosts),
        "uses_limit": t.uses_limit, "uses_count": t.uses_count,
        "write_file_limit": t.write_file_limit, "write_file_count": t.write_file_count,
        "write_byte_limit": t.write_byte_limit, "write_byte_count": t.write_byte_count,
        "expires_at": t.expires_at, "created_at": t.created_at, "modified_at": t.modified_at, "label": t.label,
        "status": view.status.value, "s3": _address(view.s3), "links": links,
        "usage": {"first_used_at": view.usage.first_used_at, "last_used_at": view.usage.last_used_at,
                  "granted": view.usage.granted, "denied": view.usage.denied},
    }
    if view.public_bucket is not None:
        data["s3"]["public_bucket"] = view.public_bucket
    if view.credentials is not None:
        data["credentials"] = credentials_data(view.credentials)
    return data


def ticket_list_data(page: TicketList) -> dict[str, Any]:
    return {"items": [ticket_data(v) for v in page.items], "next_cursor": page.next_cursor}
