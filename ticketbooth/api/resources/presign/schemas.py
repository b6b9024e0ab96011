"""Request and response bodies of ``POST /v1/tickets/{id}/presign``."""
from __future__ import annotations

import marshmallow as ma

from ....sigv4.presign import MAX_PRESIGN_EXPIRES

__all__ = ["PresignRequestSchema", "PresignResponseSchema"]


class PresignRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    key = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=1024),
        metadata={"description": "Object key inside the ticket's bucket (for a data-object ticket: its name)"},
    )
    method = ma.fields.String(
        load_default="GET", validate=ma.validate.OneOf(["GET", "PUT"]),
        metadata={"description": "GET to download, PUT to upload (write tickets only)"},
    )
    expires_in = ma.fields.Integer(
        load_default=3600, strict=True, validate=ma.validate.Range(min=1, max=MAX_PRESIGN_EXPIRES),
        metadata={"description": "Seconds the URL is valid; capped at the ticket's own expiry"},
    )


class PresignResponseSchema(ma.Schema):
    url = ma.fields.String(required=True, metadata={"description": "The presigned URL (a bearer credential)"})
    method = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(required=True, format="iso")
