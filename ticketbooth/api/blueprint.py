"""The flask-smorest ``Blueprint`` every API resource uses: webargs parsing hardened against hostile bodies.

``json.loads`` raises ``RecursionError`` on deeply nested input (``[[[[...``) and ``ValueError`` on an
integer over 4,300 digits, which webargs does not expect and which would surface as a 500; and it accepts
lone surrogates (``"\udfff"``), strings no UTF-8 encoder, database or JSON answer can hold. Each becomes the
same 400 ``bad_request`` as any malformed JSON (issue 9 item 13).
"""
from __future__ import annotations

import json
from typing import Any

import flask_smorest
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

__all__ = ["Blueprint", "ApiParser", "loads", "MAX_INT_DIGITS"]


#: Longer integers than any field takes (the largest, write_byte_limit, has 19 digits) are refused unparsed.
MAX_INT_DIGITS = 100


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _unicode_only(value: Any) -> None:
    """Raise ``ValueError`` if any string (or key) of ``value`` is not encodable Unicode (a lone surrogate)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # UnicodeEncodeError is a ValueError
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(text: str) -> Any:
    """``json.loads`` that raises ``json.JSONDecodeError`` for every input it refuses (see the module doc)."""
    try:
        value = json.loads(text, parse_int=_parse_int)
        _unicode_only(value)
    except RecursionError:
        raise json.JSONDecodeError("JSON nested too deeply", "<body>", 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as err:  # too long an integer, a lone surrogate
        raise json.JSONDecodeError(f"JSON refused: {type(err).__name__}", "<body>", 0) from None
    return value


class ApiParser(FlaskParser):
    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return missing
        try:
            text = req.get_data(cache=True).decode("utf-8")
        except UnicodeDecodeError as err:
            raise json.JSONDecodeError(f"Bytes decoding error : {err.reason}", "<body>", err.start) from None
        return loads(text)


class Blueprint(flask_smorest.Blueprint):
    """Use instead of ``flask_smorest.Blueprint`` for every resource."""

    ARGUMENTS_PARSER = ApiParser()
