"""The OpenAPI document of the API, as flask-smorest generates it: ``python -m ticketbooth.openapi [FILE]``.

The committed copy lives in ``openapi/openapi.json``; a test fails when it differs from what the code
generates. The document does not depend on configuration (the app is built on a throw-away data directory).
"""
from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

__all__ = ["spec_document", "render_spec", "main"]


def spec_document() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    from .app import create_app
    from .backends.embedded import EmbeddedBackend
    from .settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        backend = EmbeddedBackend(tmp, master_key=b"x" * 32)
        try:
            app = create_app(Settings(data_dir=tmp), backend=backend)
            response = app.test_client().get("/openapi.json")
            return response.get_json()
        finally:
            backend.close()


def render_spec() -> str:
    """The document as stable, human-diffable JSON text."""
    return json.dumps(spec_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = argv[0] if argv else "openapi/openapi.json"
    text = render_spec()
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
