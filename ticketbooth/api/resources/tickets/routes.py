"""Routes of the tickets resource: each view parses, calls the ticket service, and returns."""
from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from ....clientconfig import FORMATS, render
from ....model import TicketStatus
from ....tickets import TicketService
from ...auth import authenticate_request, current_actor
from ...blueprint import Blueprint
from ...errors import ErrorSchema
from .schemas import (
    CredentialsQuerySchema,
    CredentialsSchema,
    TicketCreateSchema,
    TicketListQuerySchema,
    TicketListSchema,
    TicketPatchSchema,
    TicketSchema,
    credentials_data,
    ticket_data,
    ticket_list_data,
)

__all__ = ["blp"]

blp = Blueprint(
    "tickets", __name__, url_prefix="/v1/tickets",
    description="iRODS tickets and the S3 key pairs bound to them",
)
# Authenticate before webargs parses anything: a caller without a valid token learns nothing else.
blp.before_request(authenticate_request)


def _service() -> TicketService:
    return current_app.extensions["ticketbooth"].tickets


def _errors(*statuses: int) -> Any:
    def decorate(func: Any) -> Any:
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorSchema, description=_ERROR_TEXT[status])(func)
        return func

    return decorate


_ERROR_TEXT = {
    401: "missing or invalid bearer token",
    403: "not allowed (not the owner, not an admin, not a holder, or a policy refusal)",
    404: "no such ticket visible to the caller, or no such path",
    409: "conflicts with the current state",
    422: "invalid request (validation_error, invalid_request, invalid_path)",
}


@blp.route("")
class Tickets(MethodView):
    @blp.arguments(TicketListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, TicketListSchema)
    @_errors(401, 403, 422)
    def get(self, **query: Any) -> dict[str, Any]:
        """List tickets

        The caller's own tickets by default; `shared_with=me`: tickets whose allow-lists admit the caller;
        admins may pass `owner` or `all=true`. Ordered by id; pass `next_cursor` as `cursor` for the next page.
        """
        status = query.pop("status", None)
        page = _service().list(
            current_actor(),
            owner=query.pop("owner", None),
            all_owners=query.pop("all"),
            shared_with_me=query.pop("shared_with", None) == "me",
            status=None if status is None else TicketStatus(status),
            **query,
        )
        return ticket_list_data(page)

    @blp.arguments(TicketCreateSchema)
    @blp.response(201, TicketSchema)
    @_errors(401, 403, 404, 409, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a ticket

        The caller must own `path`. The response carries, once, the caller's S3 key pair (`credentials`);
        fetch it again any time with `GET /v1/tickets/{id}/credentials`.
        """
        path = body.pop("path")
        return ticket_data(_service().create(current_actor(), path, **body))


@blp.route("/<int:ticket_id>")
class TicketById(MethodView):
    @blp.response(200, TicketSchema)
    @_errors(401, 404)
    def get(self, ticket_id: int) -> dict[str, Any]:
        """Show a ticket (the ticket string to its owner and admins only)"""
        return ticket_data(_service().get(current_actor(), ticket_id))

    @blp.arguments(TicketPatchSchema)
    @blp.response(200, TicketSchema)
    @_errors(401, 403, 404, 409, 422)
    def patch(self, body: dict[str, Any], ticket_id: int) -> dict[str, Any]:
        """Change limits, expiry, allow-lists or label (owner or admin)

        Fields not given stay as they are; `expires_at: null` removes the expiry (not for anonymous tickets),
        `label: null` clears the label.
        """
        return ticket_data(_service().modify(current_actor(), ticket_id, **body))

    @blp.response(204)
    @_errors(401, 403, 404)
    def delete(self, ticket_id: int) -> None:
        """Revoke a ticket (owner or admin): its key pairs and links stop working at once"""
        _service().delete(current_actor(), ticket_id)


_FORMATS_TEXT = (
    "`format=json` (default) returns the pair and the S3 addressing; the others return a configuration ready to "
    "paste, with a download file name: "
    + "; ".join(f"`{f.name}` ({f.summary}, {f.media_type})" for f in FORMATS.values()) + "."
)

# format=json is the Credentials schema; the JSON client configurations (mc, fsspec, ...) are other documents.
_FORMATS_CONTENT = {
    media_type: {"schema": {"type": "string"}} for media_type in {f.media_type for f in FORMATS.values()}
}
_FORMATS_CONTENT["application/json"] = {"schema": {"oneOf": [
    {"$ref": "#/components/schemas/Credentials"}, {"type": "object", "description": "a JSON client configuration"},
]}}


@blp.route("/<int:ticket_id>/credentials")
class TicketCredentials(MethodView):
    @blp.arguments(CredentialsQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, CredentialsSchema)
    @blp.doc(description=_FORMATS_TEXT, responses={"200": {"content": _FORMATS_CONTENT}})
    @_errors(401, 403, 404, 422)
    def get(self, ticket_id: int, format: str) -> Any:
        """The caller's S3 key pair, as JSON or as a client configuration"""
        credentials = _service().credentials(current_actor(), ticket_id)
        if format == "json":
            return credentials_data(credentials)
        config = render(format, credentials)
        response = Response(config.text, status=200, mimetype=config.media_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{config.filename}"'
        response.headers["Cache-Control"] = "no-store"
        return response
