"""GET /v1/tickets/{id}/credentials: whose key pair a caller gets, in which format."""
from __future__ import annotations

import configparser
import json

import pytest

from ticketbooth import s3keys

from ..conftest import ZONE

DATA = f"/{ZONE}/home/alice/data"


def test_json_is_the_callers_own_pair(client, backend):
    body = client.create(DATA, users=["alice", "bob"])
    master, string = backend.master_key(), backend.find_ticket(body["id"]).string
    mine = client.get(f"/v1/tickets/{body['id']}/credentials").get_json()
    bobs = client.as_user("bob").get(f"/v1/tickets/{body['id']}/credentials?format=json").get_json()
    assert mine == body["credentials"]
    assert (mine["holder"], bobs["holder"]) == ("alice", "bob")
    assert bobs["access_key_id"] == s3keys.access_key_id(master, body["id"], "bob")
    assert bobs["secret_access_key"] == s3keys.secret_access_key(master, body["id"], string, "bob")
    assert bobs["secret_access_key"] != mine["secret_access_key"]


def test_group_member_gets_their_own_pair(client):
    body = client.create(DATA, groups=["lab"])
    carol = client.as_user("carol").get(f"/v1/tickets/{body['id']}/credentials").get_json()
    assert carol["holder"] == "carol"


def test_owner_not_on_the_allow_list_is_not_a_holder(client):
    body = client.create(DATA, users=["bob"])
    for caller in (client, client.as_user("root", admin=True)):
        response = caller.get(f"/v1/tickets/{body['id']}/credentials")
        assert response.status_code == 403
        assert response.get_json()["code"] == "not_a_holder"
        assert "users" in response.get_json()["message"]


def test_anonymous_pair_goes_to_owner_and_admin_only(client):
    body = client.create(DATA, anonymous=True)
    url = f"/v1/tickets/{body['id']}/credentials"
    assert client.get(url).get_json()["holder"] == "anonymous"
    assert client.as_user("root", admin=True).get(url).get_json() == body["credentials"]
    assert client.as_user("bob").get(url).status_code == 404


def test_stranger_and_unknown_ticket_are_404(client):
    body = client.create(DATA)
    assert client.as_user("bob").get(f"/v1/tickets/{body['id']}/credentials").status_code == 404
    assert client.get("/v1/tickets/4242/credentials").status_code == 404


@pytest.mark.parametrize("fmt,filename,mimetype", [
    ("env", ".env", "text/plain"), ("aws", ".aws", "text/plain"), ("rclone", "rclone.conf", "text/plain"),
    ("mc", "config.json", "application/json"), ("s3cmd", ".s3cfg", "text/plain"),
    ("rclone-rc", ".rclone-rc.json", "application/json"), ("duckdb", ".sql", "application/sql"),
    ("fsspec", ".fsspec.json", "application/json"), ("pyarrow", ".pyarrow.json", "application/json"),
    ("polars", ".polars.json", "application/json"),
])
def test_text_formats_carry_the_pair_and_a_file_name(client, fmt, filename, mimetype):
    body = client.create(DATA)
    response = client.get(f"/v1/tickets/{body['id']}/credentials?format={fmt}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert f'filename="ticket-{body["id"]}{filename}"' in response.headers["Content-Disposition"] or (
        f'filename="{filename}"' in response.headers["Content-Disposition"])
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert body["credentials"]["access_key_id"] in text and body["credentials"]["secret_access_key"] in text


def test_rclone_and_mc_formats_parse(client):
    body = client.create(DATA)
    bucket = body["s3"]["bucket"]
    rclone = configparser.ConfigParser(interpolation=None)
    rclone.read_string(client.get(f"/v1/tickets/{body['id']}/credentials?format=rclone").get_data(as_text=True))
    assert rclone[bucket]["endpoint"] == "http://127.0.0.1:9000"
    mc = json.loads(client.get(f"/v1/tickets/{body['id']}/credentials?format=mc").data)
    assert mc["aliases"][bucket]["secretKey"] == body["credentials"]["secret_access_key"]


def test_unknown_format_is_422(client):
    body = client.create(DATA)
    response = client.get(f"/v1/tickets/{body['id']}/credentials?format=xml")
    assert response.status_code == 422
    assert "format" in response.get_json()["details"]["fields"]["query"]


def test_inactive_ticket_gives_no_pair(client, backend):
    expiring = client.create(DATA, expires_in=60)
    limited = client.create(DATA, uses_limit=1)
    backend.open_session(backend.find_ticket(limited["id"]), "alice", client_host=None, now=client.clock()).close()
    assert client.get(f"/v1/tickets/{limited['id']}/credentials").get_json()["code"] == "ticket_uses_exceeded"
    client.clock.advance(60)
    response = client.get(f"/v1/tickets/{expiring['id']}/credentials?format=env")
    assert response.status_code == 403 and response.get_json()["code"] == "ticket_expired"
    client.patch(f"/v1/tickets/{expiring['id']}", json={"expires_in": 600})
    assert client.get(f"/v1/tickets/{expiring['id']}/credentials").status_code == 200
