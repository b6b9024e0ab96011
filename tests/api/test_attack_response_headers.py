"""Issue 9, item 16 on the API: ``nosniff`` everywhere, a restrictive CSP and no framing on Swagger UI."""
from __future__ import annotations

import base64
import hashlib
import re

from ticketbooth.responseheaders import html_policy, is_scriptable


def test_every_api_answer_says_nosniff(client):
    anonymous = client.as_user(None)
    for response in (anonymous.get("/healthz"), anonymous.get("/openapi.json"), anonymous.get("/v1/tickets"),
                     client.get("/v1/tickets"), client.get("/nope"), client.post("/v1/tickets", data=b"{")):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status_code


def test_swagger_ui_has_a_restrictive_csp_that_admits_its_own_inline_script(client):
    docs = client.as_user(None).get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    for block in re.findall(rb"<script(?![^>]*\ssrc)[^>]*>(.*?)</script>", docs.data, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(block).digest()).decode()
        assert f"'sha256-{digest}'" in csp  # the page's own inline script runs, nothing injected would


def test_html_policy_hashes_only_the_blocks_it_is_given():
    policy = html_policy(b"<script>ok()</script><script src='/x.js'></script><style>b{}</style>")
    assert policy.count("'sha256-") == 2
    assert "'sha256-" + base64.b64encode(hashlib.sha256(b"ok()").digest()).decode() + "'" in policy


def test_scriptable_types():
    assert all(map(is_scriptable, ["text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml",
                                   "TEXT/XML", "application/rss+xml"]))
    assert not any(map(is_scriptable, ["text/plain", "application/octet-stream", "image/png", None, ""]))
