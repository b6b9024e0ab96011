"""POST /v1/tickets/{id}/presign: URLs signed with the caller's pair, capped by and dying with the ticket."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import pytest

from .conftest import GATEWAY_SECRET, HOST

SECRET_HEADERS = {"X-TicketBooth-Gateway-Secret": GATEWAY_SECRET}


@pytest.fixture
def ticket(data_dir, make_ticket):
    data_dir("data/sub dir/a+b.txt", b"hello")
    return make_ticket("/tempZone/home/alice/data", access="write", expires_in=7200)


def _decide(client, url: str, method: str = "GET"):
    """Ask the authorize endpoint (the gateway's own authz path) about a request for ``url``."""
    parts = urlsplit(url)
    uri = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post("/v1/authorize", json={"method": method, "uri": uri, "headers": [["Host", parts.netloc]]},
                       headers=SECRET_HEADERS)


def test_presigned_get_is_granted(client, token, ticket):
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "sub dir/a+b.txt"},
                           headers=token("alice"))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["method"] == "GET"
    assert urlsplit(body["url"]).netloc == HOST
    assert ticket["credentials"]["access_key_id"] in body["url"]
    assert ticket["credentials"]["secret_access_key"] not in body["url"]
    decision = _decide(client, body["url"])
    assert decision.status_code == 200, decision.data
    assert decision.json["path"] == "/tempZone/home/alice/data/sub dir/a+b.txt"
    assert decision.json["action"] == "read"


def test_presigned_put_is_granted_on_a_write_ticket(client, token, ticket):
    body = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "new.bin", "method": "PUT"},
                       headers=token("alice")).json
    decision = _decide(client, body["url"], "PUT")
    assert decision.status_code == 200, decision.data
    assert decision.json["action"] == "write"
    assert _decide(client, body["url"], "GET").status_code == 403  # the method is signed


def test_put_refused_on_a_read_ticket(client, token, data_dir, make_ticket):
    data_dir("r/f", b"f")
    read = make_ticket("/tempZone/home/alice/r")
    response = client.post(f"/v1/tickets/{read['id']}/presign", json={"key": "f", "method": "PUT"},
                           headers=token("alice"))
    assert response.status_code == 403
    assert response.json["code"] == "permission_denied"


def test_expiry_is_capped_at_the_ticket_expiry(client, token, ticket, clock):
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "k", "expires_in": 604800},
                           headers=token("alice"))
    assert response.status_code == 200
    ticket_expiry = datetime.fromisoformat(ticket["expires_at"])
    assert datetime.fromisoformat(response.json["expires_at"]) == ticket_expiry
    short = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "k", "expires_in": 60},
                        headers=token("alice")).json
    assert (datetime.fromisoformat(short["expires_at"]) - clock()).total_seconds() == 60


def test_url_dies_with_the_ticket_before_its_own_expiry(client, token, ticket):
    url = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "sub dir/a+b.txt"},
                      headers=token("alice")).json["url"]
    assert _decide(client, url).status_code == 200
    assert client.delete(f"/v1/tickets/{ticket['id']}", headers=token("alice")).status_code == 204
    refused = _decide(client, url)
    assert refused.status_code == 403
    assert refused.headers["X-TicketBooth-Error-Code"] == "InvalidAccessKeyId"


def test_url_expires(client, token, ticket, clock):
    url = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "sub dir/a+b.txt", "expires_in": 30},
                      headers=token("alice")).json["url"]
    clock.advance(31)
    refused = _decide(client, url)
    assert refused.status_code == 403
    assert refused.headers["X-TicketBooth-Error-Code"] == "AccessDenied"


def test_expired_ticket_cannot_presign(client, token, ticket, clock):
    clock.advance(7201)
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "k"}, headers=token("alice"))
    assert response.status_code == 403
    assert response.json["code"] == "ticket_expired"


def test_someone_else_gets_no_url(client, token, ticket):
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "k"}, headers=token("bob"))
    assert response.status_code in (403, 404)
    assert "url" not in response.json


def test_needs_a_token(client, ticket):
    assert client.post(f"/v1/tickets/{ticket['id']}/presign", json={"key": "k"}).status_code == 401


def test_data_object_ticket_presigns_only_its_name(client, token, data_dir, make_ticket):
    data_dir("single.bin", b"1")
    single = make_ticket("/tempZone/home/alice/single.bin")
    ok = client.post(f"/v1/tickets/{single['id']}/presign", json={"key": "single.bin"}, headers=token("alice"))
    assert ok.status_code == 200
    assert _decide(client, ok.json["url"]).status_code == 200
    other = client.post(f"/v1/tickets/{single['id']}/presign", json={"key": "other"}, headers=token("alice"))
    assert other.status_code == 422


@pytest.mark.parametrize("body", [
    {"key": "k", "expires_in": 0}, {"key": "k", "expires_in": 604801}, {"key": "k", "method": "DELETE"},
    {"key": ""}, {"key": "a/../b"}, {"key": "a//b"}, {"key": "dir/"}, {}, {"key": "k", "expires_in": "60"},
], ids=["zero", "too-long", "method", "empty-key", "dotdot", "double-slash", "trailing-slash", "no-key",
        "string-expiry"])
def test_bad_input_is_422(client, token, ticket, body):
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", json=body, headers=token("alice"))
    assert response.status_code == 422, response.json


def test_deeply_nested_json_is_a_clean_400(client, token, ticket):
    body = "[" * 5000 + "]" * 5000
    response = client.post(f"/v1/tickets/{ticket['id']}/presign", data=body, content_type="application/json",
                           headers=token("alice"))
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"
