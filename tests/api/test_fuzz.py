"""No input a client can send yields a 500: random JSON bodies and odd query strings on every route."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..conftest import ZONE

FIELDS = ["path", "access", "anonymous", "users", "groups", "hosts", "expires_in", "expires_at", "uses_limit",
          "write_file_limit", "write_byte_limit", "label"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from([f"/{ZONE}/home/alice/data", f"/{ZONE}/home/alice/data/a.csv", "9999-12-31T23:59:59.9+00:00",
                     "0001-01-01T00:00:00-23:59", "2030-06-01T12:00:00Z", "read", "write", "10.0.0.0/8", "::1",
                     "lab", "bob", "anonymous", "\x00", "/" * 3, "..", f"/{ZONE}/home/alice/data/../x"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                            inner, max_size=3),
                      max_leaves=8)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
    values,
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_handled(response):
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.get_json()
        assert isinstance(body["code"], str) and isinstance(body["message"], str)


@pytest.fixture
def existing(client):
    return client.create(f"/{ZONE}/home/alice/data", access="write")["id"]


@FUZZ
@given(body=bodies)
def test_create_never_500(client, body):
    assert_handled(client.post("/v1/tickets", json=body))


@FUZZ
@given(body=bodies)
def test_patch_never_500(client, existing, body):
    assert_handled(client.patch(f"/v1/tickets/{existing}", json=body))


@FUZZ
@given(raw=st.binary(max_size=64), content_type=st.sampled_from(["application/json", "text/plain", "", "x/y"]))
def test_raw_bodies_never_500(client, existing, raw, content_type):
    assert_handled(client.post("/v1/tickets", data=raw, content_type=content_type))
    assert_handled(client.patch(f"/v1/tickets/{existing}", data=raw, content_type=content_type))


query_names = st.sampled_from(["owner", "all", "shared_with", "path", "anonymous", "status", "limit", "cursor",
                               "format", "x", ""])
query_values = st.one_of(st.text(max_size=30), st.integers().map(str),
                         st.sampled_from(["me", "true", "active", "json", "env", "%00", "MQ", "-1", "1e9"]))


@FUZZ
@given(pairs=st.lists(st.tuples(query_names, query_values), max_size=5))
def test_odd_query_strings_never_500(client, existing, pairs):
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    assert_handled(client.get(f"/v1/tickets?{query}"))
    assert_handled(client.as_user("root", admin=True).get(f"/v1/tickets?{query}"))
    assert_handled(client.get(f"/v1/tickets/{existing}/credentials?{query}"))


@FUZZ
@given(segment=st.text(max_size=30))
def test_odd_ids_never_500(client, segment):
    url = "/v1/tickets/" + quote(segment, safe="")
    for method in ("GET", "PATCH", "DELETE"):
        assert_handled(client.open(method, url, json={}))
    assert_handled(client.get(url + "/credentials"))


@FUZZ
@given(header=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
       | st.sampled_from(["Bearer a.b.c", "Bearer e30.e30.", "bearer " + "A" * 20000]))
def test_odd_authorization_headers_never_500(client, header):
    response = client.as_user(None).get("/v1/tickets", headers={"Authorization": header})
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


def test_deeply_nested_json_is_refused_cleanly(client):
    body = "[" * 5000 + "]" * 5000
    assert_handled(client.post("/v1/tickets", data=body, content_type="application/json"))
    assert_handled(client.post("/v1/tickets", data=json.dumps({"path": "\ud800"}), content_type="application/json"))
