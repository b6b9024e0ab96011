"""Issue 9, item 16: response hardening on the gateway, and CRLF in ``response-content-type`` (item 13).

The attack: a write-ticket holder uploads ``evil.html``/``evil.svg`` into a shared bucket; anyone opening the
object URL ran its script on the gateway's origin. Now every answer says ``nosniff``, scriptable types are
served as attachments, and HTML pages (link listings, refusals) carry a CSP that forbids framing and any
script but their own hashed inline blocks (they have none).
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from ticketbooth.model import Access

from .conftest import call_wsgi

SCRIPT = b"<script>alert(document.domain)</script>"


@pytest.fixture
def writer(gw):
    return gw.client(gw.ticket("ds1", access=Access.WRITE))


@pytest.mark.parametrize("name", ["evil.html", "evil.htm", "evil.svg", "evil.xhtml", "evil.xml"])
def test_scriptable_objects_are_attachments(gw, writer, name):
    assert writer.request("PUT", name, body=SCRIPT).status == 200
    result = writer.request("GET", name)
    assert result.status == 200 and result.body == SCRIPT
    assert result.headers["content-disposition"].startswith("attachment;")
    assert result.headers["x-content-type-options"] == "nosniff"
    head = writer.request("HEAD", name)
    assert head.headers["content-disposition"].startswith("attachment;")


def test_response_content_type_override_to_html_is_still_an_attachment(gw, writer):
    result = writer.request("GET", "a.txt", "response-content-type=text%2Fhtml"
                            "&response-content-disposition=inline")
    assert result.status == 200 and result.headers["content-type"] == "text/html"
    assert result.headers["content-disposition"] == "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"


def test_plain_objects_stay_inline(gw, writer):
    result = writer.request("GET", "a.txt")
    assert "content-disposition" not in result.headers
    assert result.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("value", ["text/plain\r\nSet-Cookie: a=b", "text/plain\nX: 1", "a\x00b", "text/\u2603"])
def test_crlf_or_non_latin1_in_response_override_is_a_400(gw, writer, value):
    result = writer.request("GET", "a.txt", "response-content-type=" + quote(value, safe=""))
    assert (result.status, result.code) == (400, "InvalidArgument")
    assert "set-cookie" not in result.headers


def test_every_gateway_answer_says_nosniff(gw, writer):
    answers = [writer.request("GET", None, "list-type=2"), writer.request("GET", "missing"),
               writer.request("PUT", "x.txt", body=b"x"), writer.request("DELETE", "x.txt"),
               call_wsgi(gw.app, "GET", "/", {"Host": "127.0.0.1:9000"})]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.status


def test_link_pages_forbid_framing_and_foreign_script(gw):
    gw.put("ds1/<script>alert(1)</script>.html", SCRIPT)
    ticket = gw.ticket("ds1", anonymous=True)
    page = call_wsgi(gw.app, "GET", f"/_t/{ticket.string}/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    script_src = next(part for part in csp.split("; ") if part.startswith("script-src"))
    assert "unsafe-inline" not in script_src and "*" not in script_src
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    download = call_wsgi(gw.app, "GET", f"/_t/{ticket.string}/{quote('<script>alert(1)</script>.html')}")
    assert download.status == 200 and download.headers["content-disposition"].startswith("attachment;")
    refusal = call_wsgi(gw.app, "GET", "/_t/not-a-ticket/")
    assert refusal.status == 404 and "frame-ancestors 'none'" in refusal.headers["content-security-policy"]
