"""The Chromium helper itself: it sees a CSP violation and a request to a remote host when there is one (so the
tests that assert there are none can fail)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

PAGE = (b"<!DOCTYPE html><html><body><p id=x>static</p><script>document.getElementById('x').textContent='ran'"
        b"</script><img src='http://remote.example/pixel.png'></body></html>")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Security-Policy", "script-src 'self'")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def test_helper_reports_violations_and_remote_requests(chromium):
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = chromium.load(f"http://127.0.0.1:{server.server_port}/", budget_ms=3000)
    finally:
        server.shutdown()
        server.server_close()
    assert ">static<" in page.dom  # the inline script was blocked ...
    assert page.csp_violations()  # ... and the helper says so
    assert any(r.url.startswith("http://remote.example/") for r in page.page_requests())
