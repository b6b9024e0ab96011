"""Request and response bodies of ``POST /v1/authorize``."""
from __future__ import annotations

import marshmallow as ma

__all__ = ["AuthorizeRequestSchema", "DecisionSchema", "HeadersField"]


class HeadersField(ma.fields.Field):
    """``[[name, value], ...]`` or ``{name: value | [values]}``; the shape is checked in ``original.py``."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202 - marshmallow's signature
        if not isinstance(value, list | dict):
            raise ma.ValidationError("headers must be a list of [name, value] pairs or an object")
        return value


class AuthorizeRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    method = ma.fields.String(required=True, metadata={"description": "The original request's method"})
    uri = ma.fields.String(
        required=True,
        metadata={"description": "The original request target as received: path and query, encoding untouched"},
    )
    headers = HeadersField(
        required=True,
        metadata={"description": "The original headers: list of [name, value] pairs, or a mapping of name to "
                                 "value (or list of values)"},
    )
    payload_sha256 = ma.fields.String(
        load_default=None, allow_none=True,
        metadata={"description": "Hex SHA-256 of the body, when the gateway has it (checked against a literal "
                                 "x-amz-content-sha256)"},
    )
    client_ip = ma.fields.String(
        load_default=None, allow_none=True,
        metadata={"description": "The client's address as the gateway saw it (host allow-lists need it)"},
    )


class DecisionSchema(ma.Schema):
    ticket_id = ma.fields.Integer(required=True)
    holder = ma.fields.String(required=True, metadata={"description": "Who holds the key ('anonymous' for "
                                                                      "anonymous tickets)"})
    path = ma.fields.String(required=True, metadata={"description": "The iRODS logical path the request targets"})
    access = ma.fields.String(required=True, metadata={"description": "The ticket type: read or write"})
    anonymous = ma.fields.Boolean(required=True)
    action = ma.fields.String(required=True, metadata={"description": "list, stat, read, write or delete"})
    operation = ma.fields.String(required=True, metadata={"description": "The S3 operation, e.g. GetObject"})
    bucket = ma.fields.String(allow_none=True)
    key = ma.fields.String(allow_none=True)
    client_ip = ma.fields.String(allow_none=True)
    payload_mode = ma.fields.String(
        allow_none=True,
        metadata={"description": "How the body is bound to the signature (e.g. UNSIGNED-PAYLOAD, a literal "
                                 "SHA256, or a STREAMING-* mode): the gateway must verify the body itself"},
    )
