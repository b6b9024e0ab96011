"""The gateway's own probes for load balancers: ``/_healthz`` (the process serves) and ``/_readyz`` (the backend
can serve, else 503 ``backend_unavailable`` with ``Retry-After``) — and that they never shadow an S3 request."""
from __future__ import annotations

import json
import logging

import pytest

from ticketbooth import errors

from ..clock import Clock
from .conftest import START, call_wsgi, make_world


@pytest.fixture
def world(gw):
    return gw


def test_healthz_and_readyz_answer_json_without_authentication(world):
    live = call_wsgi(world.app, "GET", "/_healthz")
    assert live.status == 200 and json.loads(live.body)["status"] == "ok"
    ready = call_wsgi(world.app, "GET", "/_readyz")
    assert (ready.status, json.loads(ready.body)) == (200, {"status": "ready"})
    assert ready.headers["content-type"] == "application/json" and ready.headers["cache-control"] == "no-store"
    head = call_wsgi(world.app, "HEAD", "/_readyz")
    assert (head.status, head.body) == (200, b"")
    post = call_wsgi(world.app, "POST", "/_readyz")
    assert (post.status, post.headers["allow"], json.loads(post.body)["code"]) == (405, "GET, HEAD",
                                                                                  "method_not_allowed")


@pytest.mark.parametrize("failure", [errors.BackendUnavailable("iRODS is unreachable or timed out", retry_after=7),
                                     errors.BackendError("iRODS error"), RuntimeError("a bug")], ids=repr)
def test_readyz_is_503_with_retry_after_while_the_backend_is_not_ready(world, monkeypatch, caplog, failure):
    def not_ready() -> None:
        raise failure

    monkeypatch.setattr(world.backend, "check_ready", not_ready)
    with caplog.at_level(logging.ERROR):
        ready = call_wsgi(world.app, "GET", "/_readyz")
    assert ready.status == 503 and json.loads(ready.body)["code"] == "backend_unavailable"
    assert ready.headers["retry-after"] == ("7" if isinstance(failure, errors.BackendUnavailable) else "5")
    assert call_wsgi(world.app, "GET", "/_healthz").status == 200  # alive all the same
    assert ("readiness check failed: RuntimeError" in caplog.text) == isinstance(failure, RuntimeError)


def test_the_probe_paths_are_never_a_bucket_and_on_a_bucket_host_stay_object_keys(tmp_path):
    world = make_world(tmp_path, Clock(START), base_domain="s3.example.test")
    assert call_wsgi(world.app, "GET", "/_readyz", headers={"Host": "s3.example.test"}).status == 200
    assert call_wsgi(world.app, "GET", "/_readyz", headers={"Host": "127.0.0.1:9000"}).status == 200
    # ticket-7.s3.example.test/_readyz is the key "_readyz" of bucket ticket-7: S3 answers (unsigned: refused).
    keyed = call_wsgi(world.app, "GET", "/_readyz", headers={"Host": "ticket-7.s3.example.test"})
    assert keyed.status == 403 and b"<Code>AccessDenied</Code>" in keyed.body
    # Anything else below the reserved names is S3's: "_readyz" is no valid bucket name, so no bucket at all.
    other = call_wsgi(world.app, "GET", "/_readyz/x")
    assert other.status != 200 and other.headers["content-type"] == "application/xml"
    world.backend.close()
