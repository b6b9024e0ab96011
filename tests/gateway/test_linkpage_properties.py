"""The listing page for any names: every name appears escaped, every link stays below the link's root."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from ticketbooth.gateway.linkpage import LinkEntry, listing_page

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=20)
BASE = "/_t/STRING/"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [value for name, value in attrs if name == "href"]

    def handle_data(self, data):
        self.text.append(data)


@given(st.lists(names, min_size=1, max_size=5, unique=True), st.lists(names, max_size=3), names)
def test_names_are_text_and_links_stay_below_the_root(files, path, title):
    relative = "".join(part + "/" for part in path)
    entries = [LinkEntry(name, False, 1, datetime(2026, 1, 1, tzinfo=UTC)) for name in files]
    html = listing_page(title, BASE, relative, entries).decode()
    parsed = _Collect()
    parsed.feed(html)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "nav", "a", "span", "strong",
                                "p", "table", "thead", "tbody", "tr", "th", "td"}
    text = "".join(parsed.text)
    for name in [*files, *path]:
        assert name in text
    for href in parsed.hrefs:
        assert href.startswith(BASE) and not re.search(r"[\s\"'<>]", href)
        target, _, query = href[len(BASE):].partition("?")
        assert query in ("", "download=1", "download=zip")
        decoded = unquote(target)
        assert decoded == "" or decoded.endswith("/") or decoded.rpartition("/")[2] in files
