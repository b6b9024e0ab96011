"""Request and response schemas of the events resource."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ....audit import ACTIONS, AuditEvent, EventPage

__all__ = ["EventListQuerySchema", "EventSchema", "EventListSchema", "event_data", "event_list_data"]


class EventListQuerySchema(ma.Schema):
    ticket_id = fields.Integer(strict=False, validate=validate.Range(min=0, max=2**63 - 1),
                               metadata={"description": "only events of this ticket"})
    action = fields.String(validate=validate.OneOf(ACTIONS), metadata={"description": "only events of this action"})
    since = fields.AwareDateTime(format="iso", metadata={
        "description": "only events at or after this RFC 3339 date-time (with a time zone)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000),
                           metadata={"description": "page size, 1 to 1000"})
    cursor = fields.String(validate=validate.Length(max=512),
                           metadata={"description": "next_cursor of the previous page"})


class EventSchema(ma.Schema):
    id = fields.Integer(required=True, metadata={"description": "ascending in the order events were stored"})
    time = fields.String(required=True, metadata={"description": "RFC 3339 date-time (UTC)"})
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    ticket_id = fields.Integer(allow_none=True, metadata={"description": "null: a refusal naming no ticket"})
    actor = fields.String(required=True, metadata={
        "description": "the API user, the S3 key holder, or 'anonymous'"})
    client_addr = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True, metadata={
        "description": "the X-Request-Id (API) or x-amz-request-id (gateway) of the request"})
    detail = fields.Dict(required=True, metadata={
        "description": "created: the ticket's settings; modified: changes {field: {from, to}}; denied: source, "
                       "s3_code, reason, status, operation, access_key_id"})


class EventListSchema(ma.Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as cursor for the next page"})


def event_data(event: AuditEvent) -> dict[str, Any]:
    return event.document()


def event_list_data(page: EventPage) -> dict[str, Any]:
    return {"items": [event_data(e) for e in page.items], "next_cursor": page.next_cursor}
