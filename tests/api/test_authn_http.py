"""Authentication as HTTP clients see it: 401 with an RFC 6750 challenge, before anything else is looked at."""
from __future__ import annotations

import jwt
import pytest

from ..conftest import HS256_SECRET


@pytest.mark.parametrize("url,method", [("/v1/tickets", "GET"), ("/v1/tickets", "POST"), ("/v1/tickets/1", "GET"),
                                        ("/v1/tickets/1", "PATCH"), ("/v1/tickets/1", "DELETE"),
                                        ("/v1/tickets/1/credentials", "GET")])
def test_every_v1_ticket_route_needs_a_token(client, url, method):
    response = client.as_user(None).open(method, url, json={"nonsense": True})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ticketbooth"'


def test_invalid_token_gets_invalid_token_challenge(client):
    token = jwt.encode({"sub": "alice", "exp": 1}, HS256_SECRET, algorithm="HS256")
    response = client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == "invalid_token" and body["message"] == "token has expired"
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="ticketbooth", error="invalid_token", error_description="token has expired"'
    )


def test_token_expires_with_the_injected_clock(client):
    ok = client.get("/v1/tickets")
    assert ok.status_code == 200
    token = client.token()
    client.clock.advance(client.settings.auth.dev_token_lifetime + client.settings.auth.leeway + 1)
    late = client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert late.status_code == 401 and late.get_json()["code"] == "invalid_token"


def test_token_signed_with_another_secret(client):
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, "z" * 40, algorithm="HS256")
    response = client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "signature" in response.get_json()["message"]


def test_the_token_never_appears_in_an_error(client):
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, "z" * 40, algorithm="HS256")
    response = client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert token.encode() not in response.data
    assert token not in response.headers["WWW-Authenticate"]
