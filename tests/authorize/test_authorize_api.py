"""POST /v1/authorize: decisions through the gateway's own authz path, both input forms, caller auth."""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from .conftest import GATEWAY_SECRET, HOST, sign

SECRET_HEADERS = {"X-TicketBooth-Gateway-Secret": GATEWAY_SECRET}


@pytest.fixture
def ticket(data_dir, make_ticket):
    data_dir("data/a.txt", b"hello")
    return make_ticket("/tempZone/home/alice/data", access="read")


def _json_request(ticket, method="GET", key="a.txt", *, clock, headers=None, body=b"", payload=None, query=""):
    creds = ticket["credentials"]
    url = f"http://{HOST}/{creds['bucket']}/{key}" + (f"?{query}" if query else "")
    signed = sign(method, url, creds["access_key_id"], creds["secret_access_key"], clock(), headers=headers,
                  body=body, payload=payload)
    return {"method": method, "uri": url[len(f"http://{HOST}"):],
            "headers": [["Host", HOST], *[[k, v] for k, v in signed.items()]]}


def _uses(client, token, ticket_id: int) -> int:
    return client.get(f"/v1/tickets/{ticket_id}", headers=token("alice")).json["uses_count"]


def _error_code(response) -> str:
    return ET.fromstring(response.data).findtext("Code")


def test_grants_a_signed_get_and_counts_one_use(client, token, ticket, clock):
    body = _json_request(ticket, clock=clock)
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 200, response.data
    decision = response.json
    assert decision["ticket_id"] == ticket["id"]
    assert decision["holder"] == "alice"
    assert decision["path"] == "/tempZone/home/alice/data/a.txt"
    assert decision["access"] == "read" and decision["anonymous"] is False
    assert (decision["action"], decision["operation"]) == ("read", "GetObject")
    assert (decision["bucket"], decision["key"]) == (ticket["credentials"]["bucket"], "a.txt")
    assert response.headers["X-TicketBooth-Path"] == "/tempZone/home/alice/data/a.txt"
    assert response.headers["X-TicketBooth-Ticket-Id"] == str(ticket["id"])
    assert response.headers["X-TicketBooth-Anonymous"] == "false"
    assert _uses(client, token, ticket["id"]) == 1


def test_never_returns_the_secret(client, ticket, clock):
    response = client.post("/v1/authorize", json=_json_request(ticket, clock=clock), headers=SECRET_HEADERS)
    secret = ticket["credentials"]["secret_access_key"]
    assert response.status_code == 200
    assert secret not in response.get_data(as_text=True)
    assert all(secret not in value for _, value in response.headers.items())


def test_headers_as_a_mapping_and_bearer_secret(client, ticket, clock):
    body = _json_request(ticket, clock=clock)
    body["headers"] = {name: value for name, value in body["headers"]}
    response = client.post("/v1/authorize", json=body, headers={"Authorization": f"Bearer {GATEWAY_SECRET}"})
    assert response.status_code == 200, response.data
    assert response.json["key"] == "a.txt"


def test_forwarded_headers_form_as_nginx_sends_it(client, token, ticket, clock):
    creds = ticket["credentials"]
    uri = f"/{creds['bucket']}/a.txt"
    signed = sign("GET", f"http://{HOST}{uri}", creds["access_key_id"], creds["secret_access_key"], clock())
    headers = {**signed, "Host": HOST, "X-Original-URI": uri, "X-Original-Method": "GET",
               "X-Real-IP": "192.0.2.9", **SECRET_HEADERS}
    response = client.post("/v1/authorize", headers=headers)
    assert response.status_code == 200, response.data
    assert response.headers["X-TicketBooth-Path"] == "/tempZone/home/alice/data/a.txt"
    assert response.headers["X-TicketBooth-Client-Ip"] == "192.0.2.9"
    assert _uses(client, token, ticket["id"]) == 1


def test_forwarded_refusal_is_403_with_the_real_status_in_a_header(client, token, ticket, clock):
    creds = ticket["credentials"]
    uri = f"/{creds['bucket']}/a.txt"
    signed = sign("PUT", f"http://{HOST}{uri}", creds["access_key_id"], creds["secret_access_key"], clock(),
                  body=b"x", payload=hashlib.sha256(b"x").hexdigest())
    headers = {**signed, "Host": HOST, "X-Original-URI": uri, "X-Original-Method": "PUT",
               "X-Original-Content-Length": "1", **SECRET_HEADERS}
    response = client.post("/v1/authorize", headers=headers)
    assert response.status_code == 403
    assert response.headers["X-TicketBooth-Error-Code"] == "AccessDenied"
    assert response.headers["X-TicketBooth-Error-Status"] == "403"
    assert _error_code(response) == "AccessDenied"
    assert _uses(client, token, ticket["id"]) == 0


def test_forwarded_non_403_refusal_keeps_403_status(client, data_dir, make_ticket, clock):
    data_dir("one.bin", b"1")
    ticket = make_ticket("/tempZone/home/alice/one.bin")
    creds = ticket["credentials"]
    uri = f"/{creds['bucket']}/other.bin"
    signed = sign("GET", f"http://{HOST}{uri}", creds["access_key_id"], creds["secret_access_key"], clock())
    headers = {**signed, "Host": HOST, "X-Original-URI": uri, "X-Original-Method": "GET", **SECRET_HEADERS}
    forwarded = client.post("/v1/authorize", headers=headers)
    assert forwarded.status_code == 403
    assert forwarded.headers["X-TicketBooth-Error-Status"] == "404"
    assert forwarded.headers["X-TicketBooth-Error-Code"] == "NoSuchKey"
    as_json = client.post("/v1/authorize", json=_json_request(ticket, key="other.bin", clock=clock),
                          headers=SECRET_HEADERS)
    assert as_json.status_code == 404 and _error_code(as_json) == "NoSuchKey"


def test_read_ticket_cannot_write_and_refusals_count_no_use(client, token, ticket, clock):
    body = _json_request(ticket, "PUT", "new.txt", clock=clock, body=b"data",
                         payload=hashlib.sha256(b"data").hexdigest())
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 403
    assert _error_code(response) == "AccessDenied"
    assert response.headers["Content-Type"].startswith("application/xml")
    assert _uses(client, token, ticket["id"]) == 0


def test_bad_signature(client, ticket, clock):
    body = _json_request(ticket, clock=clock)
    body["uri"] = body["uri"].replace("a.txt", "b.txt")
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 403
    assert response.headers["X-TicketBooth-Error-Code"] == "SignatureDoesNotMatch"


def test_payload_hash_mismatch(client, data_dir, make_ticket, clock):
    data_dir("w/keep", b"")
    ticket = make_ticket("/tempZone/home/alice/w", access="write")
    body = _json_request(ticket, "PUT", "x.bin", clock=clock, body=b"signed body",
                         payload=hashlib.sha256(b"signed body").hexdigest())
    good = client.post("/v1/authorize", json=body | {"payload_sha256": hashlib.sha256(b"signed body").hexdigest()},
                       headers=SECRET_HEADERS)
    assert good.status_code == 200, good.data
    assert good.json["action"] == "write"
    bad = client.post("/v1/authorize", json=body | {"payload_sha256": hashlib.sha256(b"other").hexdigest()},
                      headers=SECRET_HEADERS)
    assert bad.status_code == 400
    assert _error_code(bad) == "XAmzContentSHA256Mismatch"


def test_revoked_ticket_is_refused_at_once(client, token, ticket, clock):
    body = _json_request(ticket, clock=clock)
    assert client.delete(f"/v1/tickets/{ticket['id']}", headers=token("alice")).status_code == 204
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 403
    assert _error_code(response) == "InvalidAccessKeyId"


def test_host_allow_list_uses_client_ip(client, data_dir, make_ticket, clock):
    data_dir("h/f", b"f")
    ticket = make_ticket("/tempZone/home/alice/h", hosts=["198.51.100.7"])
    body = _json_request(ticket, key="f", clock=clock)
    assert client.post("/v1/authorize", json=body | {"client_ip": "198.51.100.7"},
                       headers=SECRET_HEADERS).status_code == 200
    refused = client.post("/v1/authorize", json=body | {"client_ip": "198.51.100.8"}, headers=SECRET_HEADERS)
    assert refused.status_code == 403 and _error_code(refused) == "AccessDenied"
    assert client.post("/v1/authorize", json=body, headers=SECRET_HEADERS).status_code == 403


@pytest.mark.parametrize("headers", [{}, {"X-TicketBooth-Gateway-Secret": "wrong"},
                                     {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {GATEWAY_SECRET}"}],
                         ids=["none", "wrong-header", "wrong-bearer", "not-bearer"])
def test_caller_must_present_the_gateway_secret(client, ticket, clock, headers):
    response = client.post("/v1/authorize", json=_json_request(ticket, clock=clock), headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"


def test_disabled_without_a_configured_secret(settings, clock, ticket):
    from ticketbooth.app import create_app
    from ticketbooth.settings import GatewaySettings

    app = create_app(settings.replace(gateway=GatewaySettings()), clock=clock)
    response = app.test_client().post("/v1/authorize", json={}, headers=SECRET_HEADERS)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


@pytest.mark.parametrize("change", [
    {"uri": "no-slash"}, {"uri": "/a b"}, {"method": "GE T"}, {"client_ip": "not-an-ip"},
    {"headers": [["a"]]}, {"headers": "x"}, {"payload_sha256": "ABC"}, {"unknown": 1},
], ids=["uri-relative", "uri-space", "method", "client-ip", "header-pair", "headers-type", "payload-hash",
        "unknown-field"])
def test_malformed_input_is_422(client, ticket, clock, change):
    body = _json_request(ticket, clock=clock) | change
    response = client.post("/v1/authorize", json=body, headers=SECRET_HEADERS)
    assert response.status_code == 422, response.data
    assert response.json["code"] in ("invalid_request", "validation_error")


def test_missing_fields_and_non_json(client):
    assert client.post("/v1/authorize", json={"method": "GET"}, headers=SECRET_HEADERS).status_code == 422
    response = client.post("/v1/authorize", data=b"not json", headers=SECRET_HEADERS)
    assert response.status_code == 400


def test_deeply_nested_json_is_a_clean_400(client):
    from .conftest import GATEWAY_SECRET

    body = "[" * 5000 + "]" * 5000
    response = client.post("/v1/authorize", data=body, content_type="application/json",
                           headers={"X-TicketBooth-Gateway-Secret": GATEWAY_SECRET})
    assert response.status_code == 400
