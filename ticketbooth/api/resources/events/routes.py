"""Routes of the events resource: the view parses, asks the audit service, and returns."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from ...auth import authenticate_request, current_actor
from ...blueprint import Blueprint
from ...errors import ErrorSchema
from .schemas import EventListQuerySchema, EventListSchema, event_list_data

__all__ = ["blp"]

blp = Blueprint("events", __name__, url_prefix="/v1/events",
                description="The audit trail: ticket lifecycle changes and refused requests")
blp.before_request(authenticate_request)


@blp.route("")
class Events(MethodView):
    @blp.arguments(EventListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, EventListSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="missing or invalid bearer token")
    @blp.alt_response(422, schema=ErrorSchema, description="invalid filter or cursor")
    @blp.alt_response(503, schema=ErrorSchema, description="the audit store is unavailable")
    def get(self, **query: Any) -> dict[str, Any]:
        """List audit events

        Owners see the events of their own tickets, admins every event (also refusals that name no ticket).
        Ordered by id; pass `next_cursor` as `cursor` for the next page. Granted uses are not events: see
        `usage` on the ticket.
        """
        return event_list_data(current_app.extensions["ticketbooth"].audit.list(current_actor(), **query))
