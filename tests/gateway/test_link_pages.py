"""Link pages people enjoy: inline viewing with a download button, breadcrumb, trailing-slash redirects,
ASCII filename fallback, and "download all" as a streamed zip that counts one use."""
from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketbooth.gateway.disposition import ascii_filename, content_disposition, inline_type
from ticketbooth.gateway.ziparchive import ZipMember, stream_zip

from .conftest import call_wsgi

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def _get(gw, path, method="GET", headers=None):
    return call_wsgi(gw.app, method, path, headers or {})


@pytest.mark.parametrize(("name", "shown_as"), [
    ("README.md", "text/plain; charset=utf-8"), ("table.csv", "text/plain; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"), ("plot.png", "image/png"), ("photo.jpg", "image/jpeg"),
    ("paper.pdf", "application/pdf"), ("data.json", "application/json"),
])
def test_viewable_files_are_shown_inline_and_download_on_request(gw, name, shown_as):
    gw.put(f"ds1/{name}", PNG)
    ticket = gw.ticket("ds1", anonymous=True)
    shown = _get(gw, f"/_t/{ticket.string}/{name}")
    assert shown.status == 200 and shown.body == PNG
    assert shown.headers["content-type"] == shown_as
    assert shown.headers["content-disposition"] == f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    saved = _get(gw, f"/_t/{ticket.string}/{name}?download=1")
    assert saved.headers["content-disposition"].startswith("attachment; ")
    assert saved.headers["content-type"] != "text/plain; charset=utf-8" or name.endswith(".txt")


@pytest.mark.parametrize("name", ["page.html", "icon.svg", "feed.xml", "page.xhtml", "blob.bin", "noext"])
def test_scriptable_and_unknown_files_stay_downloads(gw, name):
    gw.put(f"ds1/{name}", b"<html><script>alert(1)</script></html>")
    ticket = gw.ticket("ds1", anonymous=True)
    result = _get(gw, f"/_t/{ticket.string}/{name}")
    assert result.status == 200
    assert result.headers["content-disposition"].startswith("attachment; ")
    assert "text/plain" not in result.headers["content-type"]


def test_collection_without_trailing_slash_redirects(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    sub = _get(gw, f"/_t/{ticket.string}/sub")
    assert (sub.status, sub.headers["location"]) == (301, f"/_t/{ticket.string}/sub/")
    root = _get(gw, f"/_t/{ticket.string}?download=zip")
    assert (root.status, root.headers["location"]) == (301, f"/_t/{ticket.string}/?download=zip")
    assert _get(gw, f"/_t/{ticket.string}/sub/").status == 200
    # A data-object link keeps serving the object at /_t/<string>.
    single = gw.ticket("ds1/a.txt", anonymous=True)
    assert _get(gw, f"/_t/{single.string}").body == b"hello world"


def test_listing_has_breadcrumb_buttons_and_download_all(gw):
    gw.put("ds1/sub/deeper/c.txt", b"c")
    ticket = gw.ticket("ds1", anonymous=True)
    base = f"/_t/{ticket.string}/"
    html = _get(gw, base + "sub/deeper/").body.decode()
    nav = html[html.index("<nav"):html.index("</nav>")]
    assert f'<a href="{base}">ds1</a>' in nav and f'<a href="{base}sub/">sub</a>' in nav
    assert '<strong aria-current="page">deeper</strong>' in nav
    assert f'href="{base}sub/deeper/?download=zip"' in html
    assert f'href="{base}sub/deeper/c.txt"' in html and f'href="{base}sub/deeper/c.txt?download=1" download' in html
    root = _get(gw, base).body.decode()
    assert f'href="{base}sub/?download=zip"' in root  # each sub-collection has its own zip button
    assert "<script" not in root and "<script" not in html


def test_download_all_streams_a_zip_and_counts_one_use(gw):
    gw.put("ds1/caf\u00e9 au lait.txt", b"coffee")
    ticket = gw.ticket("ds1", anonymous=True, uses_limit=5)
    result = _get(gw, f"/_t/{ticket.string}/?download=zip")
    assert result.status == 200 and result.headers["content-type"] == "application/zip"
    assert result.headers["content-disposition"] == "attachment; filename=\"ds1.zip\"; filename*=UTF-8''ds1.zip"
    assert "content-length" not in result.headers  # streamed: the size is not known in advance
    archive = zipfile.ZipFile(io.BytesIO(result.body))
    assert archive.testzip() is None
    assert {name: archive.read(name) for name in archive.namelist()} == {
        "ds1/a.txt": b"hello world", "ds1/sub/b.bin": bytes(range(256)) * 4, "ds1/caf\u00e9 au lait.txt": b"coffee"}
    assert gw.backend.find_ticket(ticket.id).uses_count == 1
    sub = zipfile.ZipFile(io.BytesIO(_get(gw, f"/_t/{ticket.string}/sub/?download=zip").body))
    assert sub.namelist() == ["sub/b.bin"]
    head = _get(gw, f"/_t/{ticket.string}/?download=zip", method="HEAD")
    assert (head.status, head.body) == (200, b"")
    assert gw.backend.find_ticket(ticket.id).uses_count == 3


def test_download_all_of_a_missing_collection_is_a_404_page(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    for path in ("nosuch/", "a.txt/"):
        missing = _get(gw, f"/_t/{ticket.string}/{path}?download=zip")
        assert missing.status == 404 and missing.headers["content-type"].startswith("text/html"), path


def test_download_all_of_an_exhausted_link_is_refused(gw):
    ticket = gw.ticket("ds1", anonymous=True, uses_limit=1)
    assert _get(gw, f"/_t/{ticket.string}/a.txt").status == 200
    refused = _get(gw, f"/_t/{ticket.string}/?download=zip")
    assert refused.status == 410 and refused.headers["content-type"].startswith("text/html")


# -- pure parts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fallback"), [
    ("a.txt", "a.txt"), ("caf\u00e9.txt", "cafe.txt"), ("\u00e9 \u00fc.txt", "e u.txt"),
    ('say "hi".txt', "say _hi_.txt"), ("back\\slash", "back_slash"), ("\u65e5\u672c.txt", "__.txt"),
    ("\u65e5\u672c", "download"), ("100%.txt", "100_.txt"), ("tab\there", "tab_here"),
])
def test_ascii_fallback(name, fallback):
    assert ascii_filename(name) == fallback


@given(st.text(min_size=1, max_size=40))
def test_disposition_is_one_safe_header_line(name):
    value = content_disposition(name, inline=False)
    assert value.isascii() and "\r" not in value and "\n" not in value
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and '"' not in fallback and "\\" not in fallback


def test_inline_types():
    assert inline_type("text/html") is None and inline_type("image/svg+xml") is None
    assert inline_type("application/octet-stream") is None and inline_type(None) is None
    assert inline_type("text/x-python") == "text/plain; charset=utf-8"
    assert inline_type("image/png") == "image/png"


def test_zip_is_produced_while_reading():
    opened: list[str] = []

    def opener(name: str, data: bytes):
        def open_it():
            opened.append(name)
            return io.BytesIO(data)
        return open_it

    members = [ZipMember(f"m{i}", 200_000, datetime(2026, 1, 1, tzinfo=UTC), opener(f"m{i}", bytes([i]) * 200_000))
               for i in range(3)]
    chunks = stream_zip(members, chunk=16_384)
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04") and opened == ["m0"]  # bytes go out before the next file is opened
    rest = b"".join(chunks)
    archive = zipfile.ZipFile(io.BytesIO(first + rest))
    assert [archive.read(f"m{i}") for i in range(3)] == [bytes([i]) * 200_000 for i in range(3)]


def test_zip_refuses_a_member_that_is_not_its_recorded_size():
    short = ZipMember("short", 10, None, lambda: io.BytesIO(b"abc"))
    with pytest.raises(OSError, match="ended before"):
        b"".join(stream_zip([short]))
    long = ZipMember("long", 2, None, lambda: io.BytesIO(b"abc"))
    with pytest.raises(OSError, match="longer"):
        b"".join(stream_zip([long]))


def test_link_listing_names_encoded_in_zip_links(gw):
    gw.put("ds1/a b/#c.txt", b"x")
    ticket = gw.ticket("ds1", anonymous=True)
    html = _get(gw, f"/_t/{ticket.string}/").body.decode()
    assert f'href="/_t/{ticket.string}/{quote("a b")}/?download=zip"' in html
