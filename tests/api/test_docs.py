"""Swagger UI at /docs from the pinned swagger-ui-bundle package: no CDN, no inline script, and in headless
Chromium with every remote host blocked the page renders the API's operations."""
from __future__ import annotations

import re
import secrets

import pytest

from ticketbooth.api.docs import ASSETS, SWAGGER_UI_VERSION
from ticketbooth.openapi import spec_document

from ..browser import is_loopback
from ..e2e.servers import API_APP, Server, free_port


def test_page_uses_only_local_assets_and_no_inline_script(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "<style" not in html and "http" not in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/docs/static/") and s.endswith(f"?v={SWAGGER_UI_VERSION}")
                           for s in sources)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for source in sources:
        asset = client.get(source)
        try:
            assert asset.status_code == 200
            assert asset.data == ASSETS[source.split("/")[-1].split("?")[0]].read_bytes()
        finally:
            asset.close()


def test_assets_are_the_pinned_bundle(client):
    bundle = client.get("/docs/static/swagger-ui-bundle.js")
    try:
        assert bundle.mimetype == "text/javascript" and b"SwaggerUIBundle" in bundle.data
        assert "max-age=86400" in bundle.headers["Cache-Control"]
    finally:
        bundle.close()
    assert SWAGGER_UI_VERSION == "4.15.5"  # swagger-ui-bundle==1.1.0 (setup.py)


@pytest.mark.parametrize("name", ["index.html", "..%2Fdocs.py", "swagger-initializer.js", "nope.js"])
def test_other_files_are_not_served(client, name):
    response = client.get(f"/docs/static/{name}")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_docs_are_not_an_api_operation():
    assert not any(path.startswith("/docs") for path in spec_document()["paths"])


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    base = tmp_path_factory.mktemp("docs-api")
    config = base / "tb.toml"
    config.write_text(f'data_dir = "{base / "data"}"\nlog_level = "WARNING"\n'
                      f'[auth]\nhs256_secret = "{secrets.token_hex(24)}"\n')
    server = Server(API_APP, free_port(), {"TICKETBOOTH_CONFIG": str(config)}, base / "api.log")
    try:
        server.wait_ready("/healthz")
        yield server
    finally:
        server.stop()


def test_swagger_ui_renders_every_operation_offline(live_api, chromium, tmp_path):
    page = chromium.load(live_api.url + "/docs")
    # What Swagger UI draws for each operation once it has fetched and parsed /openapi.json.
    drawn = set(re.findall(r'opblock-summary-path" data-path="([^"]+)"', page.dom))
    assert drawn == set(spec_document()["paths"])
    assert "List tickets" in page.dom and "Create a ticket" in page.dom
    asked = [r.url for r in page.page_requests()]
    assert all(is_loopback(url) for url in asked), asked
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-init.js"):
        assert any(f"/docs/static/{name}" in url for url in asked)
    assert any(url.endswith("/openapi.json") for url in asked)
    assert page.csp_violations() == []  # the API's strict CSP (no inline script) lets Swagger UI run
    shot = chromium.screenshot(live_api.url + "/docs", tmp_path / "docs.png")
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
