"""The ticket lifecycle over HTTP: create, show, list, modify, revoke, and the rules of issue 2."""
from __future__ import annotations

from datetime import timedelta

import pytest

from ticketbooth import s3keys

from ..conftest import START, ZONE

DATA = f"/{ZONE}/home/alice/data"


def iso(dt):
    return dt.isoformat()


# -- create ----------------------------------------------------------------------------------------------

def test_create_returns_the_resource_and_the_callers_key_pair(client, backend):
    body = client.create(DATA, label="for the workflow")
    assert body["path"] == DATA and body["target_kind"] == "collection" and body["access"] == "read"
    assert body["owner"] == "alice" and body["users"] == ["alice"] and body["groups"] == [] and body["hosts"] == []
    assert body["anonymous"] is False and body["status"] == "active" and body["label"] == "for the workflow"
    assert body["expires_at"] is None and body["created_at"] == iso(START)
    assert (body["uses_limit"], body["uses_count"], body["write_file_limit"], body["write_byte_limit"]) == (0, 0, 0, 0)
    assert body["s3"] == {"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1",
                          "bucket": f"ticket-{body['id']}", "key_prefix": ""}
    ticket = backend.find_ticket(body["id"])
    assert body["ticket"] == ticket.string and len(ticket.string) == 15
    creds = body["credentials"]
    assert creds["holder"] == "alice" and creds["bucket"] == f"ticket-{body['id']}"
    master = backend.master_key()
    assert creds["access_key_id"] == s3keys.access_key_id(master, body["id"], "alice")
    assert creds["secret_access_key"] == s3keys.secret_access_key(master, body["id"], ticket.string, "alice")
    assert "public" not in body["links"]


def test_create_on_a_data_object_addresses_one_key(client):
    body = client.create(f"{DATA}/a.csv", access="write", write_file_limit=3, write_byte_limit=100)
    assert body["target_kind"] == "data_object" and body["s3"]["key_prefix"] == "a.csv"
    assert (body["access"], body["write_file_limit"], body["write_byte_limit"]) == ("write", 3, 100)


def test_create_with_expiry_forms(client):
    assert client.create(DATA, expires_in=3600)["expires_at"] == iso(START + timedelta(hours=1))
    at = START + timedelta(days=2, microseconds=10)
    # iRODS keeps whole seconds: rounded up, never earlier than asked.
    assert client.create(DATA, expires_at=iso(at))["expires_at"] == iso(START + timedelta(days=2, seconds=1))


def test_create_for_other_users_and_groups(client):
    body = client.create(DATA, users=["bob"], groups=["lab"], hosts=["192.0.2.0/24", "198.51.100.7"])
    assert (body["users"], body["groups"], body["hosts"]) == (["bob"], ["lab"], ["192.0.2.0/24", "198.51.100.7"])
    assert "credentials" not in body  # alice is not on the allow-list: she holds no pair


@pytest.mark.parametrize("path,status,code", [
    ("relative/path", 422, "invalid_path"),
    (f"{DATA}/../../bob", 422, "invalid_path"),
    (f"/{ZONE}/home//alice", 422, "invalid_path"),
    ("/otherZone/home/alice", 422, "invalid_path"),
    (f"{DATA}/missing.txt", 404, "path_not_found"),
    (f"/{ZONE}/home/bob/notes.txt", 403, "permission_denied"),
])
def test_create_refuses_bad_paths(client, path, status, code):
    response = client.post("/v1/tickets", json={"path": path})
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code


@pytest.mark.parametrize("body,field", [
    ({}, "path"),
    ({"path": DATA, "access": "admin"}, "access"),
    ({"path": DATA, "uses_limit": "10"}, "uses_limit"),
    ({"path": DATA, "users": "bob"}, "users"),
    ({"path": DATA, "expires_at": "2031-01-01T00:00:00"}, "expires_at"),
    ({"path": DATA, "colour": "blue"}, "colour"),
])
def test_create_validation_errors_name_the_field(client, body, field):
    response = client.post("/v1/tickets", json=body)
    assert response.status_code == 422
    error = response.get_json()
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]["json"]


@pytest.mark.parametrize("body,field", [
    ({"uses_limit": -1}, "uses_limit"),
    ({"users": ["bad name"]}, "users"),
    ({"hosts": ["example.org"]}, "hosts"),
    ({"expires_in": 10, "expires_at": "2031-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"write_file_limit": 2}, "write_file_limit"),
    ({"label": "x" * 300}, "label"),
    ({"anonymous": True, "users": ["bob"]}, "users"),
    ({"groups": ["no-such-group"]}, "groups"),
])
def test_create_policy_errors_name_the_field(client, body, field):
    response = client.post("/v1/tickets", json={"path": DATA, **body})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()
    assert error["code"] == "invalid_request" and error["details"]["field"] == field


def test_refused_create_leaves_no_ticket(client):
    client.post("/v1/tickets", json={"path": DATA, "groups": ["no-such-group"]})
    assert client.get("/v1/tickets").get_json()["items"] == []


# -- anonymous tickets -----------------------------------------------------------------------------------

def test_anonymous_ticket_expires_by_default_and_has_a_public_link(client, settings):
    body = client.create(f"{DATA}/a.csv", anonymous=True)
    assert body["anonymous"] is True and body["users"] == [] and body["groups"] == []
    assert body["expires_at"] == iso(START + timedelta(seconds=settings.anonymous.default_expiry))
    assert body["links"]["public"] == f"http://127.0.0.1:9000/_t/{body['ticket']}/a.csv"
    assert body["credentials"]["holder"] == "anonymous"
    collection = client.create(DATA, anonymous=True)
    assert collection["links"]["public"] == f"http://127.0.0.1:9000/_t/{collection['ticket']}/"


def test_anonymous_links_use_the_gateway_public_url(app, client, settings, backend):
    from ticketbooth.app import create_app

    gateway = settings.gateway.__class__(public_url="https://data.example.org/")
    other = create_app(settings.replace(gateway=gateway), backend=backend, clock=client.clock)
    response = other.test_client().post("/v1/tickets", json={"path": DATA, "anonymous": True},
                                        headers={"Authorization": "Bearer " + client.token()})
    body = response.get_json()
    assert body["links"]["public"] == f"https://data.example.org/_t/{body['ticket']}/"


def test_anonymous_write_is_refused_unless_configured(client):
    response = client.post("/v1/tickets", json={"path": DATA, "anonymous": True, "access": "write"})
    assert response.status_code == 403 and response.get_json()["details"]["field"] == "access"


def test_anonymous_lifetime_is_capped(client, settings):
    too_long = settings.anonymous.max_lifetime + 1
    response = client.post("/v1/tickets", json={"path": DATA, "anonymous": True, "expires_in": too_long})
    assert response.status_code == 422 and response.get_json()["details"]["field"] == "expires_at"


def test_anonymous_ticket_is_hidden_from_strangers(client):
    body = client.create(DATA, anonymous=True)
    assert client.as_user("bob").get(f"/v1/tickets/{body['id']}").status_code == 404


# -- show ------------------------------------------------------------------------------------------------

def test_get_shows_the_string_to_owner_and_admin_only(client):
    body = client.create(DATA, users=["alice", "bob"])
    url = f"/v1/tickets/{body['id']}"
    assert client.get(url).get_json()["ticket"] == body["ticket"]
    assert client.as_user("root", admin=True).get(url).get_json()["ticket"] == body["ticket"]
    as_bob = client.as_user("bob").get(url)
    assert as_bob.status_code == 200 and as_bob.get_json()["ticket"] is None
    assert "credentials" not in as_bob.get_json()


def test_get_by_a_stranger_or_unknown_id_is_404(client):
    body = client.create(DATA)
    assert client.as_user("bob").get(f"/v1/tickets/{body['id']}").get_json()["code"] == "ticket_not_found"
    for ticket_id in ("999", str(2**63), str(2**80)):
        response = client.get(f"/v1/tickets/{ticket_id}")
        assert response.status_code == 404 and response.get_json()["code"] in ("ticket_not_found", "not_found")
    assert client.get("/v1/tickets/-1").status_code == 404
    assert client.get("/v1/tickets/abc").status_code == 404


def test_group_members_see_the_ticket(client):
    body = client.create(DATA, groups=["lab"])
    assert client.as_user("carol").get(f"/v1/tickets/{body['id']}").status_code == 200


def test_status_follows_the_clock(client):
    body = client.create(DATA, expires_in=60)
    client.clock.advance(60)
    assert client.get(f"/v1/tickets/{body['id']}").get_json()["status"] == "expired"


def test_expiry_with_freezegun(settings, backend):
    from freezegun import freeze_time

    from ticketbooth.app import create_app, utc_now

    from ..conftest import ApiClient

    with freeze_time("2030-06-01T12:00:00Z") as frozen:
        app = create_app(settings, backend=backend)  # no injected clock: the system clock, frozen
        real = ApiClient(app.test_client(), settings, utc_now)
        body = real.create(DATA, expires_in=30)
        assert body["expires_at"] == "2030-06-01T12:00:30+00:00"
        assert real.get(f"/v1/tickets/{body['id']}").get_json()["status"] == "active"
        frozen.tick(timedelta(seconds=31))
        assert real.get(f"/v1/tickets/{body['id']}").get_json()["status"] == "expired"
        assert ids(real.get("/v1/tickets?status=expired")) == [body["id"]]


def test_exhausted_status(client, backend):
    body = client.create(DATA, uses_limit=1)
    ticket = backend.find_ticket(body["id"])
    backend.open_session(ticket, "alice", client_host=None, now=client.clock()).close()
    shown = client.get(f"/v1/tickets/{body['id']}").get_json()
    assert (shown["status"], shown["uses_count"]) == ("exhausted", 1)


# -- modify ----------------------------------------------------------------------------------------------

def test_patch_changes_limits_expiry_lists_and_label(client):
    body = client.create(DATA, access="write")
    client.clock.advance(10)
    response = client.patch(f"/v1/tickets/{body['id']}", json={
        "uses_limit": 5, "write_file_limit": 2, "write_byte_limit": 1000, "expires_in": 600,
        "users": ["alice", "bob"], "groups": ["lab"], "hosts": ["10.0.0.0/8"], "label": "renamed",
    })
    assert response.status_code == 200, response.get_json()
    patched = response.get_json()
    assert (patched["uses_limit"], patched["write_file_limit"], patched["write_byte_limit"]) == (5, 2, 1000)
    assert patched["expires_at"] == iso(START + timedelta(seconds=610))
    assert (patched["users"], patched["groups"], patched["hosts"]) == (["alice", "bob"], ["lab"], ["10.0.0.0/8"])
    assert patched["label"] == "renamed" and patched["modified_at"] == iso(START + timedelta(seconds=10))
    cleared = client.patch(f"/v1/tickets/{body['id']}", json={"expires_at": None, "label": None}).get_json()
    assert cleared["expires_at"] is None and cleared["label"] is None and cleared["uses_limit"] == 5


def test_empty_patch_changes_nothing(client):
    body = client.create(DATA)
    response = client.patch(f"/v1/tickets/{body['id']}", json={})
    assert response.status_code == 200 and response.get_json()["modified_at"] == body["modified_at"]


def test_patch_by_holder_is_403_by_stranger_404(client):
    body = client.create(DATA, users=["alice", "bob"])
    url = f"/v1/tickets/{body['id']}"
    assert client.as_user("bob").patch(url, json={"uses_limit": 1}).status_code == 403
    assert client.as_user("carol").patch(url, json={"uses_limit": 1}).status_code == 404
    admin = client.as_user("root", admin=True).patch(url, json={"uses_limit": 1})
    assert admin.status_code == 200 and admin.get_json()["uses_limit"] == 1


@pytest.mark.parametrize("change,status", [
    ({"users": [], "groups": []}, 422),
    ({"path": "/elsewhere"}, 422),
    ({"access": "write"}, 422),
    ({"uses_limit": 2**31}, 422),
    ({"expires_at": "yesterday"}, 422),
])
def test_patch_refusals(client, change, status):
    body = client.create(DATA)
    response = client.patch(f"/v1/tickets/{body['id']}", json=change)
    assert response.status_code == status
    unchanged = client.get(f"/v1/tickets/{body['id']}").get_json()
    assert unchanged["users"] == ["alice"] and unchanged["uses_limit"] == 0


def test_anonymous_ticket_cannot_lose_its_expiry(client):
    body = client.create(DATA, anonymous=True)
    response = client.patch(f"/v1/tickets/{body['id']}", json={"expires_at": None})
    assert response.status_code == 422


# -- delete ----------------------------------------------------------------------------------------------

def test_delete_revokes_the_ticket_and_its_keys(client, app):
    body = client.create(DATA)
    resolver = app.extensions["ticketbooth"].resolver
    akid = body["credentials"]["access_key_id"]
    assert resolver.secret_for(akid) == body["credentials"]["secret_access_key"]
    response = client.delete(f"/v1/tickets/{body['id']}")
    assert response.status_code == 204 and response.data == b"" and "Content-Type" not in response.headers
    assert resolver.secret_for(akid) is None
    assert client.get(f"/v1/tickets/{body['id']}").status_code == 404
    assert client.delete(f"/v1/tickets/{body['id']}").status_code == 404


def test_delete_by_holder_403_stranger_404_admin_ok(client):
    body = client.create(DATA, users=["alice", "bob"])
    url = f"/v1/tickets/{body['id']}"
    assert client.as_user("bob").delete(url).get_json()["code"] == "permission_denied"
    assert client.as_user("carol").delete(url).status_code == 404
    assert client.as_user("root", admin=True).delete(url).status_code == 204


# -- list ------------------------------------------------------------------------------------------------

def ids(response):
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_list_own_shared_and_admin(client):
    mine = client.create(DATA)["id"]
    shared = client.create(DATA, users=["bob"])["id"]
    group = client.create(DATA, groups=["lab"])["id"]
    bobs = client.as_user("bob").create(f"/{ZONE}/home/bob/notes.txt")["id"]
    assert ids(client.get("/v1/tickets")) == [mine, shared, group]
    bob = client.as_user("bob")
    assert ids(bob.get("/v1/tickets")) == [bobs]
    assert ids(bob.get("/v1/tickets?shared_with=me")) == [shared]  # others' tickets that admit bob
    assert ids(client.as_user("carol").get("/v1/tickets?shared_with=me")) == [group]
    admin = client.as_user("root", admin=True)
    assert ids(admin.get("/v1/tickets?all=true")) == [mine, shared, group, bobs]
    assert ids(admin.get("/v1/tickets?owner=bob")) == [bobs]
    assert ids(admin.get("/v1/tickets")) == []
    assert bob.get("/v1/tickets?shared_with=me").get_json()["items"][0]["ticket"] is None
    assert bob.get("/v1/tickets").get_json()["items"][0]["ticket"] is not None


@pytest.mark.parametrize("query", ["owner=bob", "all=true"])
def test_non_admins_cannot_list_others(client, query):
    response = client.get(f"/v1/tickets?{query}")
    assert response.status_code == 403 and response.get_json()["code"] == "permission_denied"


def test_own_name_as_owner_is_allowed(client):
    client.create(DATA)
    assert len(ids(client.get("/v1/tickets?owner=alice"))) == 1


def test_list_filters(client):
    whole = client.create(DATA)["id"]
    inner = client.create(f"{DATA}/sub/b.txt")["id"]
    lookalike = client.create(f"/{ZONE}/home/alice/data10")["id"]
    public = client.create(f"{DATA}/a.csv", anonymous=True, expires_in=60)["id"]
    assert ids(client.get(f"/v1/tickets?path={DATA}")) == [whole, inner, public]
    assert ids(client.get(f"/v1/tickets?path={DATA}/sub")) == [inner]
    assert ids(client.get("/v1/tickets?anonymous=true")) == [public]
    assert ids(client.get("/v1/tickets?anonymous=false")) == [whole, inner, lookalike]
    client.clock.advance(61)
    assert ids(client.get("/v1/tickets?status=expired")) == [public]
    assert ids(client.get("/v1/tickets?status=active")) == [whole, inner, lookalike]
    assert ids(client.get("/v1/tickets?status=exhausted")) == []


def test_list_pagination_walks_every_ticket_once(client):
    created = [client.create(DATA)["id"] for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/v1/tickets?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created and pages == 3


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("status=done", "status"),
    ("shared_with=bob", "shared_with"), ("anonymous=maybe", "anonymous"),
])
def test_list_query_validation(client, query, field):
    response = client.get(f"/v1/tickets?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["details"]["fields"]["query"]


@pytest.mark.parametrize("query,code", [("cursor=!!!", "invalid_cursor"), ("cursor=MTAw0", "invalid_cursor"),
                                        ("path=relative", "invalid_path"), ("path=/tempZone/a/../b", "invalid_path")])
def test_list_refuses_bad_cursor_and_path(client, query, code):
    response = client.get(f"/v1/tickets?{query}")
    assert response.status_code == 422
    assert response.get_json()["code"] == code


def test_shared_with_and_owner_together_is_422(client):
    response = client.as_user("root", admin=True).get("/v1/tickets?shared_with=me&owner=bob")
    assert response.status_code == 422


def test_unknown_query_parameters_are_ignored(client):
    client.create(DATA)
    assert len(ids(client.get("/v1/tickets?utm_source=mail&limit=5"))) == 1
