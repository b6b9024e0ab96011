"""The app factory, health endpoints, docs, and the JSON shape of every kind of error."""
from __future__ import annotations

import logging
import shutil

import pytest

from ticketbooth import s3keys
from ticketbooth.app import Services, create_app
from ticketbooth.errors import ConfigError
from ticketbooth.model import Actor, TicketSpec

from ..conftest import ZONE


def test_services_are_shared_through_extensions(app, backend, settings, clock):
    services = app.extensions["ticketbooth"]
    assert isinstance(services, Services)
    # The backend is measured at the seam (ticketbooth.backends.instrumented) around the one given.
    assert (services.settings, services.backend.inner, services.clock) == (settings, backend, clock)
    # The embedded backend's own master key drives key derivation.
    ticket = backend.create_ticket(Actor("alice"), TicketSpec(path=f"/{ZONE}/home/alice/data", users=("alice",)),
                                   now=clock())
    akid, secret = services.resolver.mint(ticket, "alice")
    assert akid == s3keys.access_key_id(backend.master_key(), ticket.id, "alice")
    assert services.resolver.secret_for(akid) == secret


def test_non_embedded_backend_needs_a_configured_master_key(settings, backend):
    class Other:
        """Stands for a backend without a master key of its own (the iRODS backend)."""

        def __getattr__(self, name):
            return getattr(backend, name)

        master_key = None

    with pytest.raises(ConfigError, match="master_key"):
        create_app(settings.replace(backend="irods"), backend=Other())


def test_healthz(client):
    response = client.as_user(None).get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_readyz_checks_the_backend(client, settings):
    anonymous = client.as_user(None)
    assert anonymous.get("/readyz").get_json() == {"status": "ready"}
    shutil.rmtree(f"{settings.data_dir}/zone")
    response = anonymous.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["code"] == "backend_unavailable"
    assert response.headers["Retry-After"]


def test_docs_and_spec_are_served(client):
    anonymous = client.as_user(None)
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    spec = anonymous.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"/v1/tickets", "/v1/tickets/{ticket_id}", "/v1/tickets/{ticket_id}/credentials"} <= set(spec["paths"])


def test_unknown_route_is_json_404(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {"code": "not_found", "message": "no such resource", "details": {}}


def test_wrong_method_is_json_405_with_allow(client):
    response = client.open("PUT", "/v1/tickets")
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_json_413(client):
    response = client.post("/v1/tickets", data=b"{" + b" " * 200_000 + b"}", content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"


def test_malformed_json_is_400(client):
    response = client.post("/v1/tickets", data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_unexpected_exception_is_an_opaque_500(app, client, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.ERROR, logger="ticketbooth"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"code": "internal_error", "message": "internal server error", "details": {}}
    assert b"hunter2" not in response.data
    assert any(record.exc_info for record in caplog.records)  # the cause goes to the log


def test_users_are_provisioned_on_first_sight(client, backend):
    assert backend.path_kind(f"/{ZONE}/home/dave") is None
    assert client.as_user("dave").get("/v1/tickets").status_code == 200
    assert backend.path_kind(f"/{ZONE}/home/dave") is not None
