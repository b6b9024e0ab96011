"""Swagger UI at ``/docs``, served from this host: the assets come from the pinned ``swagger-ui-bundle`` package,
so the page works on a closed network (no CDN), and it runs no inline script (a strict CSP works).

``/docs`` is the page, ``/docs/static/<file>`` the assets (only the files the page uses). Not part of the
OpenAPI document: it is a plain Flask blueprint, not a flask-smorest one.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from flask import Blueprint, Response, abort, send_file, url_for

__all__ = ["ASSETS", "SWAGGER_UI_VERSION", "docs_blueprint", "asset_path"]

_HERE = Path(__file__).with_name("static")


def _bundle() -> tuple[Path, str]:
    import swagger_ui_bundle

    path = Path(str(swagger_ui_bundle.swagger_ui_path))
    return path, path.name.removeprefix("swagger-ui-")


_BUNDLE, SWAGGER_UI_VERSION = _bundle()

#: Served file -> where it lives. Anything else under /docs/static/ is a 404.
ASSETS: dict[str, Path] = {
    "swagger-ui.css": _BUNDLE / "swagger-ui.css",
    "swagger-ui-bundle.js": _BUNDLE / "swagger-ui-bundle.js",
    "favicon-32x32.png": _BUNDLE / "favicon-32x32.png",
    "swagger-init.js": _HERE / "swagger-init.js",
}

_MEDIA = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def asset_path(name: str) -> Path:
    """Where asset ``name`` is read from; ``KeyError`` for a name that is not served."""
    return ASSETS[name]


def docs_blueprint(title: str, spec_url: str = "/openapi.json") -> Blueprint:
    """The blueprint serving the page (titled ``title``, loading ``spec_url``) and its assets."""
    blueprint = Blueprint("docs", __name__)

    @blueprint.get("/docs")
    @blueprint.get("/docs/")
    def page() -> Response:
        def asset(name: str) -> str:
            return escape(url_for("docs.static_asset", name=name, v=SWAGGER_UI_VERSION))

        html = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)} API</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{asset("swagger-ui.css")}">'
            f'<link rel="icon" type="image/png" href="{asset("favicon-32x32.png")}">'
            f'</head><body data-spec-url="{escape(spec_url)}"><div id="swagger-ui"></div>'
            f'<script src="{asset("swagger-ui-bundle.js")}"></script>'
            f'<script src="{asset("swagger-init.js")}"></script>'
            "</body></html>\n"
        )
        return Response(html, mimetype="text/html")

    @blueprint.get("/docs/static/<name>")
    def static_asset(name: str) -> Response:
        path = ASSETS.get(name)
        if path is None:
            abort(404)
        # The version is in the URL (?v=), so a day of caching never serves a stale UI after an upgrade.
        return send_file(path, mimetype=_MEDIA[path.suffix], max_age=86400, conditional=True)

    return blueprint
