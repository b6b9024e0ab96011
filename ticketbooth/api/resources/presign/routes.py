"""``POST /v1/tickets/{id}/presign``."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from ...auth import authenticate_request, current_actor
from ...blueprint import Blueprint
from .schemas import PresignRequestSchema, PresignResponseSchema
from .service import presign_object

__all__ = ["blp"]

blp = Blueprint(
    "presign", __name__, url_prefix="/v1/tickets",
    description="S3 presigned URLs signed with your key pair for a ticket; they die with the ticket.",
)
blp.before_request(authenticate_request)


@blp.route("/<int:ticket_id>/presign")
class Presign(MethodView):
    @blp.arguments(PresignRequestSchema)
    @blp.response(200, PresignResponseSchema)
    @blp.alt_response(401, description="Missing or invalid bearer token")
    @blp.alt_response(403, description="No key pair for you on this ticket, PUT on a read ticket, or the ticket "
                                       "is expired or exhausted")
    @blp.alt_response(404, description="No such ticket (or not visible to you)")
    @blp.alt_response(422, description="Invalid key, method or expires_in")
    def post(self, body: dict[str, Any], ticket_id: int) -> dict[str, Any]:
        """Presign a GET or PUT URL for one object of the ticket."""
        services = current_app.extensions["ticketbooth"]
        signed = presign_object(services.tickets, current_actor(), ticket_id, now=services.clock(), **body)
        return {"url": signed.url, "method": signed.method, "expires_at": signed.expires_at}
