"""The flask-smorest ``Blueprint`` every API resource uses: webargs parsing hardened against hostile bodies.

``json.loads`` raises ``RecursionError`` on deeply nested input (``[[[[...``), which webargs does not expect
and which would surface as a 500; here it becomes the same 400 ``bad_request`` as any malformed JSON.
"""
from __future__ import annotations

import json
from typing import Any

import flask_smorest
from webargs.flaskparser import FlaskParser

__all__ = ["Blueprint", "ApiParser"]


class ApiParser(FlaskParser):
    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "<body>", 0) from None


class Blueprint(flask_smorest.Blueprint):
    """Use instead of ``flask_smorest.Blueprint`` for every resource."""

    ARGUMENTS_PARSER = ApiParser()
