"""Issue 9, item 13 on the API: nothing a client can send is a 5xx.

The attack found 500s for lone surrogates (``"\\udfff"``, valid JSON escapes that are not Unicode text) in
JSON strings and for integers over 4,300 digits (Python's int-from-string limit), on every route. Each body
below goes to every JSON route, and every string position of a valid body gets the surrogate.
"""
from __future__ import annotations

import json

import pytest

from ..conftest import ZONE

BIG = "9" * 5000
SURROGATE = '"\\udfff"'


def _routes(ticket_id: int) -> list[tuple[str, str]]:
    return [("POST", "/v1/tickets"), ("PATCH", f"/v1/tickets/{ticket_id}"), ("POST", "/v1/authorize"),
            ("POST", f"/v1/tickets/{ticket_id}/presign"), ("GET", f"/v1/tickets/{ticket_id}/credentials"),
            ("GET", "/v1/tickets"), ("DELETE", f"/v1/tickets/{ticket_id + 1000}")]


BODIES = [
    '{"path": ' + SURROGATE + '}',
    '{"path": "/tempZone/home/alice/data", "label": ' + SURROGATE + '}',
    '{"path": "/tempZone/home/alice/data", "users": [' + SURROGATE + ']}',
    '{"path": "/tempZone/home/alice/data", "hosts": [' + SURROGATE + ']}',
    '{' + SURROGATE + ': 1}',
    '{"path": "/tempZone/home/alice/data", "uses_limit": ' + BIG + '}',
    '{"path": "/tempZone/home/alice/data", "expires_in": ' + BIG + '}',
    '{"path": "/tempZone/home/alice/data", "expires_in": 1e999}',
    '{"path": "/tempZone/home/alice/data", "expires_at": "\\udfff2030-01-01T00:00:00Z"}',
    '{"label": ' + SURROGATE + ', "uses_limit": -' + BIG + '}',
    '{"access_key_id": ' + SURROGATE + ', "method": "GET", "path": "/x"}',
    '{"method": ' + SURROGATE + ', "key": ' + SURROGATE + ', "expires_in": ' + BIG + '}',
    '[' + BIG + ']',
    BIG,
    SURROGATE,
]


@pytest.fixture
def ticket_id(client):
    return client.create(f"/{ZONE}/home/alice/data", access="write")["id"]


@pytest.mark.parametrize("body", BODIES)
def test_no_json_body_is_a_server_error_on_any_route(client, ticket_id, body):
    for method, url in _routes(ticket_id):
        response = client.open(method, url, data=body.encode(), content_type="application/json")
        assert response.status_code < 500, (method, url, body[:60], response.status_code, response.data[:200])
        payload = response.get_json(silent=True)
        if response.status_code >= 400:
            assert payload and isinstance(payload.get("code"), str), (method, url, response.data[:200])


@pytest.mark.parametrize("query", ["label=%ED%BF%BF", "limit=" + BIG, "limit=%C2%B2", "cursor=%ED%BF%BF",
                                   "path=%ED%BF%BF", "owner=" + "x" * 5000, "limit=1e999"])
def test_no_query_string_is_a_server_error(client, ticket_id, query):
    response = client.get(f"/v1/tickets?{query}")
    assert response.status_code < 500, (query, response.data[:200])


def test_surrogates_in_every_string_of_a_valid_create(client):
    valid = {"path": f"/{ZONE}/home/alice/data", "access": "write", "label": "x", "users": ["bob"],
             "groups": ["lab"], "hosts": ["192.0.2.1"], "expires_at": "2031-01-01T00:00:00Z"}
    for field in valid:
        text = json.dumps(valid)
        value = json.dumps(valid[field])
        broken = text.replace(value, '"\\udfff"' if not value.startswith("[") else '["\\udfff"]', 1)
        response = client.post("/v1/tickets", data=broken, content_type="application/json")
        assert 400 <= response.status_code < 500, (field, response.status_code, response.data[:200])
