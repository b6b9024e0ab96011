"""Security headers both processes add to every answer (pure: a response's type and body in, headers out).

* ``X-Content-Type-Options: nosniff`` on everything, so a browser never second-guesses a declared type;
* on HTML (Swagger UI, anonymous-link pages, any error page): a restrictive ``Content-Security-Policy`` —
  nothing but same-origin resources (plus origins the caller names, e.g. a configured Swagger UI CDN), inline
  ``<script>``/``<style>`` only by the SHA-256 hash of the exact blocks this very page carries, no framing
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` for older browsers), no ``<base>``, no forms
  posting elsewhere. Hashing the page's own blocks keeps the policy central: templates need no nonce.
* :func:`is_scriptable` names the content types a browser would run script in, which the gateway serves as
  attachments (see ``docs/security.md``).
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

__all__ = ["security_headers", "html_policy", "is_scriptable"]

_INLINE = re.compile(rb"<(script|style)(?![^>]*\ssrc\s*=)[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPTABLE = frozenset({
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl",
    "text/xml-external-parsed-entity", "multipart/x-mixed-replace",
})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def is_scriptable(content_type: str | None) -> bool:
    """Whether a browser may execute script in a document of ``content_type`` (HTML, SVG, XML flavours)."""
    media = _media_type(content_type)
    return media in _SCRIPTABLE or media.endswith("+xml")


def html_policy(body: bytes, sources: Iterable[str] = ()) -> str:
    """The ``Content-Security-Policy`` for an HTML ``body``: its own inline blocks by hash, ``sources`` extra."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for match in _INLINE.finditer(body):
        digest = base64.b64encode(hashlib.sha256(match.group(2)).digest()).decode("ascii")
        hashes[match.group(1).decode("ascii").lower()].append(f"'sha256-{digest}'")
    extra = " ".join(sorted(set(sources)))

    def directive(name: str, *allowed: str) -> str:
        return " ".join([name, "'self'", *allowed, *([extra] if extra else [])])

    return "; ".join([
        "default-src 'none'",
        directive("script-src", *hashes["script"]),
        directive("style-src", *hashes["style"]),
        directive("img-src", "data:"),
        directive("font-src"),
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def security_headers(content_type: str | None, body: bytes | None, sources: Iterable[str] = ()) -> dict[str, str]:
    """Headers to add to an answer of ``content_type``; ``body`` is needed for HTML (``None``: streamed)."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if _media_type(content_type) == "text/html":
        headers["Content-Security-Policy"] = html_policy(body or b"", sources)
        headers["X-Frame-Options"] = "DENY"
    return headers
