"""The committed OpenAPI document is the one the code generates."""
from __future__ import annotations

from pathlib import Path

from ticketbooth.openapi import render_spec

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_spec_is_current():
    assert COMMITTED.read_text(encoding="utf-8") == render_spec(), (
        "openapi/openapi.json is stale: regenerate it with 'python -m ticketbooth.openapi'"
    )


def test_spec_documents_errors_and_security(app):
    spec = app.test_client().get("/openapi.json").get_json()
    create = spec["paths"]["/v1/tickets"]["post"]
    assert set(create["responses"]) >= {"201", "401", "403", "404", "422"}
    assert spec["security"] == [{"bearerAuth": []}]
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"code", "message", "details"}
