"""Link pages through the live gateway (gunicorn) as people use them: headless Chromium (remote hosts blocked)
draws the listing and shows a text file inline; curl -OJ saves files and the zip under their real names."""
from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import quote

from ..browser import is_loopback
from .conftest import require_program

# Set to keep the pictures for a look (not TICKETBOOTH_*: the servers would read it as a setting).
SCREENSHOTS = os.environ.get("TB_TEST_SCREENSHOT_DIR")


def _link_ticket(stack, name: str):
    coll = stack.collection(name)
    stack.seed(coll + "/README.md", b"# Results\n\nMeasured on 2026-11-30.\n")
    stack.seed(coll + "/caf\u00e9 \u00fcber.txt", b"accents\n")
    stack.seed(coll + "/plots/fig 1.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    ticket = stack.create_ticket(coll, anonymous=True)
    return coll, ticket["links"]["public"].rstrip("/") + "/"


def test_listing_and_inline_text_in_chromium(stack, chromium, tmp_path):
    _, link = _link_ticket(stack, "links-browser")
    page = chromium.load(link + "plots/")
    assert '<nav aria-label="breadcrumb">' in page.dom and "links-browser</a>" in page.dom
    assert "fig 1.png" in page.dom and "Download all (zip)" in page.dom
    assert all(is_loopback(r.url) for r in page.page_requests())
    assert page.csp_violations() == []  # the page's one <style> block is allowed by the gateway's CSP hash
    shown = chromium.load(link + "README.md")
    assert "# Results" in shown.dom  # shown by the browser, not handed to a download
    out = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    for name, url in (("link-listing.png", link), ("link-sub.png", link + "plots/"), ("link-text.png",
                                                                                      link + "README.md")):
        shot = chromium.screenshot(url, out / name, size=(1000, 600))
        assert shot.stat().st_size > 3000


def test_curl_remote_header_name_saves_the_real_names(stack, tmp_path):
    curl = require_program("curl")
    _, link = _link_ticket(stack, "links-curl")
    for url in (link + quote("caf\u00e9 \u00fcber.txt"), link + "?download=zip"):
        subprocess.run([curl, "-sSfOJ", url], cwd=tmp_path, check=True, timeout=60)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cafe uber.txt", "links-curl.zip"]
    assert (tmp_path / "cafe uber.txt").read_bytes() == b"accents\n"
    archive = zipfile.ZipFile(io.BytesIO((tmp_path / "links-curl.zip").read_bytes()))
    assert sorted(archive.namelist()) == ["links-curl/README.md", "links-curl/caf\u00e9 \u00fcber.txt",
                                          "links-curl/plots/fig 1.png"]
    redirect = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                               link + "plots"], capture_output=True, text=True, check=True, timeout=60)
    assert redirect.stdout == f"301 {link}plots/"
