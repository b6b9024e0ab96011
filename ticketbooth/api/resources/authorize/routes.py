"""``POST /v1/authorize``: one S3 authorization decision for an external gateway.

The decision is made by :func:`ticketbooth.s3.access.authorize`, the reference gateway's own code path
(verify -> resolve key -> policy -> ``open_session``), so a granted decision counts one use of the ticket.

Answers (documented in ``docs/nginx.md``):

* endpoint disabled (``gateway.authorize_secret`` unset): ``404``, exactly as for a route that does not exist;
* caller without the right gateway secret: ``401`` JSON error ``unauthenticated``;
* malformed input: ``422`` (or ``400`` for a body that is not JSON) JSON error;
* granted: ``200`` with the decision as JSON and as ``X-TicketBooth-*`` headers;
* refused: the S3 error document (XML) with the S3 status, and its code, status and message in
  ``X-TicketBooth-Error-Code``/``-Status``/``-Message``. In the forwarded-headers form (nginx ``auth_request``,
  which turns any status but 2xx/401/403 into a 500) the status is always ``403`` and the real one is only in
  ``X-TicketBooth-Error-Status``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, abort, current_app, request
from flask.views import MethodView
from flask_smorest import abort as smorest_abort
from marshmallow import ValidationError

from ....s3.access import Decision, authorize
from ....s3.clientaddr import client_address
from ....s3.errors import S3Error, to_s3_error
from ...blueprint import Blueprint
from .gatekeeper import SECRET_HEADER, check_gateway_secret
from .original import OriginalRequest, from_forwarded, from_json
from .schemas import AuthorizeRequestSchema, DecisionSchema

__all__ = ["blp", "decision_body", "decision_headers", "error_response"]

blp = Blueprint(
    "authorize", __name__, url_prefix="/v1",
    description="Authorization decisions for S3 gateways not written in Python (nginx auth_request, Envoy "
                "ext_authz). Authenticated with the gateway secret, not a user token.",
)

_HEADER_PREFIX = "X-TicketBooth-"
#: Status nginx auth_request passes through to the client (anything else but 2xx becomes a 500 there).
_FORWARDED_DENY_STATUS = 403


def decision_body(decision: Decision) -> dict[str, Any]:
    """The decision as the JSON body carries it (never a secret)."""
    auth = decision.auth
    return {
        "ticket_id": decision.ticket_id,
        "holder": decision.holder,
        "path": decision.path,
        "access": decision.access.value,
        "anonymous": decision.anonymous,
        "action": decision.action,
        "operation": decision.operation,
        "bucket": decision.route.bucket,
        "key": decision.route.key,
        "client_ip": decision.client_host,
        "payload_mode": getattr(auth, "payload_mode", None),
    }


def decision_headers(body: dict[str, Any]) -> dict[str, str]:
    """The decision as ``X-TicketBooth-*`` headers; path and key are percent-encoded UTF-8 (``/`` kept)."""
    headers = {
        "Ticket-Id": str(body["ticket_id"]),
        "Holder": quote(body["holder"], safe="@#"),
        "Path": quote(body["path"], safe="/"),
        "Access": body["access"],
        "Anonymous": "true" if body["anonymous"] else "false",
        "Action": body["action"],
        "Operation": body["operation"],
    }
    for name, field in (("Bucket", "bucket"), ("Key", "key"), ("Client-Ip", "client_ip"),
                        ("Payload-Mode", "payload_mode")):
        if body[field] is not None:
            headers[name] = quote(body[field], safe="/")
    return {_HEADER_PREFIX + name: value for name, value in headers.items()}


def _header_text(text: str) -> str:
    # Printable ASCII, XML-escaped, so nginx can splice it into an error document as it is.
    ascii_text = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)
    return ascii_text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def error_response(error: S3Error, *, status: int | None = None, resource: str = "") -> Response:
    """The S3 error document with its code, status and message also in headers."""
    response = Response(error.to_xml(resource=resource), status=status or error.status,
                        content_type="application/xml")
    response.headers.update(error.headers)
    response.headers[_HEADER_PREFIX + "Error-Code"] = error.code
    response.headers[_HEADER_PREFIX + "Error-Status"] = str(error.status)
    response.headers[_HEADER_PREFIX + "Error-Message"] = _header_text(error.message)
    return response


def _original_request() -> tuple[OriginalRequest, bool]:
    """Parse the request into the original one; ``True`` when it came in the forwarded-headers form."""
    if not request.get_data(cache=True) and "X-Original-URI" in request.headers:
        return from_forwarded(request.headers.items()), True
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # json.loads on hostile nesting ("[[[[..."): malformed, not a server fault
        data = None
    if data is None:
        abort(400)
    try:
        loaded = AuthorizeRequestSchema().load(data)
    except ValidationError as err:
        smorest_abort(422, messages={"json": err.messages})
    return from_json(loaded), False


@blp.route("/authorize")
class Authorize(MethodView):
    @blp.doc(
        security=[{"bearerAuth": []}],
        requestBody={"content": {"application/json": {"schema": AuthorizeRequestSchema}}},
        description="Send the original request as JSON, or (nginx auth_request) as X-Original-Method, "
                    "X-Original-URI and X-Real-IP with the original headers. Authenticate with "
                    f"`{SECRET_HEADER}: <secret>` or `Authorization: Bearer <secret>`.",
    )
    @blp.response(200, DecisionSchema, description="Granted: the decision, also as X-TicketBooth-* headers")
    @blp.alt_response(400, description="The body is not JSON")
    @blp.alt_response(401, description="Missing or wrong gateway secret")
    @blp.alt_response(403, description="Refused: S3 error XML (forwarded form: always 403, see the headers)")
    @blp.alt_response(404, description="The endpoint is disabled (no gateway.authorize_secret configured)")
    @blp.alt_response(422, description="Malformed input")
    def post(self) -> Any:
        """Decide on one S3 request for an external gateway."""
        services = current_app.extensions["ticketbooth"]
        configured = services.settings.gateway.authorize_secret
        if not configured:
            abort(404)
        forwarded = SECRET_HEADER in request.headers and "X-Original-URI" in request.headers
        check_gateway_secret(configured, request.headers.get(SECRET_HEADER),
                             None if forwarded else request.headers.get("Authorization"))
        original, forwarded = _original_request()
        parts = original.parts
        try:
            original.check_payload_hash()
            decision = authorize(parts, resolver=services.resolver, backend=services.backend,
                                 settings=services.settings, now=services.clock())
        except Exception as exc:  # every refusal (and failure) becomes the S3 answer the gateway passes on
            services.decisions.refused("authorize", exc, parts=parts, client_addr=client_address(
                parts.remote_addr, parts.header_values("x-forwarded-for"), services.settings.gateway.trusted_proxies))
            object_level = parts.raw_path.strip("/").count("/") >= 1
            error = to_s3_error(exc, object_level=object_level)
            return error_response(error, status=_FORWARDED_DENY_STATUS if forwarded else None,
                                  resource=parts.raw_path)
        services.decisions.granted("authorize", decision)
        with decision:  # the use is counted by open_session; no data flows through here
            body = decision_body(decision)
        return body, decision_headers(body)
