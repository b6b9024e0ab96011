"""The API client: one small HTTP class over the standard library (no extra dependency for users).

:class:`ApiClient` speaks JSON to ``/v1/tickets``; every failure is an :class:`ApiError` carrying the API's
stable ``code``, its message, details and the HTTP status (status 0 when the API could not be reached).
The bearer token is sent only in the ``Authorization`` header and never appears in an error.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import TicketBoothError

__all__ = ["ApiClient", "ApiError"]

#: Seconds to wait for the API before giving up.
DEFAULT_TIMEOUT = 30.0


class ApiError(TicketBoothError):
    """An error answered by the API (``code``/``message``/``details`` from its JSON body), or a client-side one
    (``unreachable``: no connection; ``bad_response``: not the API's JSON) with ``status`` 0 or the HTTP status.
    """

    def __init__(self, code: str, message: str, *, status: int = 0, details: Mapping[str, Any] | None = None):
        super().__init__(message, details=dict(details or {}))
        self.code = code
        self.status = status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # Following a redirect would turn a POST into a GET (urllib does, as browsers do) or send the token to
    # another host: report it instead, so the user fixes --api-url.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class ApiClient:
    """A client for one TicketBooth API at ``base_url`` (e.g. ``http://127.0.0.1:8080``) with a bearer token."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError("invalid_api_url", f"the API URL must be http(s)://host[:port], not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    # -- transport ----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                body: Any = None) -> tuple[int, str, bytes]:
        """Send one request; returns (status, content type, body) for a 2xx answer, raises :class:`ApiError`."""
        url = self.base_url + path
        if query:
            pairs = [(k, _query_value(v)) for k, v in query.items() if v is not None]
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json", "User-Agent": "ticketbooth-cli"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as err:
            with err:
                if 300 <= err.code < 400:
                    raise ApiError("redirected", f"the API URL answers {err.code}, redirecting to "
                                   f"{err.headers.get('Location', '?')}; use that as --api-url",
                                   status=err.code) from None
                raise _api_error(err.code, err.headers.get("Content-Type", ""), err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ApiError("unreachable", f"cannot reach the API at {self.base_url}: {reason}") from None

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        status, content_type, data = self.request(method, path, **kw)
        if status == 204:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise ApiError("bad_response", f"the API answered {method} {path} with something other than JSON",
                           status=status) from None

    # -- tickets ------------------------------------------------------------------------------------------

    def create_ticket(self, path: str, **fields: Any) -> dict[str, Any]:
        """``POST /v1/tickets``: the new ticket (with its ``credentials`` this once)."""
        return self._json("POST", "/v1/tickets", body={"path": path, **_present(fields)})

    def list_tickets(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """``GET /v1/tickets`` with ``filters`` (e.g. ``shared_with="me"``, ``path``, ``status``), every page."""
        query = _present(filters)
        while True:
            page = self._json("GET", "/v1/tickets", query=query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query = {**query, "cursor": cursor}

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/tickets/{int(ticket_id)}")

    def update_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """``PATCH /v1/tickets/{id}``: fields given (``None`` values are sent as JSON null)."""
        return self._json("PATCH", f"/v1/tickets/{int(ticket_id)}", body=fields)

    def revoke_ticket(self, ticket_id: int) -> None:
        self._json("DELETE", f"/v1/tickets/{int(ticket_id)}")

    def credentials(self, ticket_id: int, format: str = "json") -> str:
        """``GET /v1/tickets/{id}/credentials?format=...`` as text (JSON text for ``json``)."""
        _, _, data = self.request("GET", f"/v1/tickets/{int(ticket_id)}/credentials", query={"format": format})
        return data.decode("utf-8")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _api_error(status: int, content_type: str, data: bytes) -> ApiError:
    try:
        body = json.loads(data) if "json" in content_type else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        return ApiError(body["code"], str(body.get("message", "")), status=status, details=details)
    # Not the API's error shape: a proxy in between, or a wrong URL.
    return ApiError("bad_response", f"HTTP {status} without a TicketBooth error body (is the API URL right?)",
                    status=status)
