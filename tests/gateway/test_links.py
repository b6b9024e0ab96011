"""Anonymous links ``/_t/<ticket string>/<path>``: downloads, listing pages, refusals, uses, hosts."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from ticketbooth.model import Actor

from ..clock import Clock
from .conftest import START, call_wsgi, make_world


def _get(gw, path, headers=None, method="GET", remote_addr="127.0.0.1"):
    return call_wsgi(gw.app, method, path, headers or {}, remote_addr=remote_addr)


def test_download_of_a_collection_member_with_range(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    result = _get(gw, f"/_t/{ticket.string}/a.txt")
    assert (result.status, result.body) == (200, b"hello world")
    # Text is shown in the browser; the ASCII filename= is for curl -OJ and wget, filename*= for browsers.
    assert result.headers["content-disposition"] == "inline; filename=\"a.txt\"; filename*=UTF-8''a.txt"
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.headers["content-length"] == "11"
    assert result.headers["cache-control"] == "no-store"
    ranged = _get(gw, f"/_t/{ticket.string}/sub/b.bin", {"Range": "bytes=-4"})
    assert (ranged.status, ranged.body) == (206, bytes(range(252, 256)))
    assert ranged.headers["content-range"] == "bytes 1020-1023/1024"
    head = _get(gw, f"/_t/{ticket.string}/a.txt", method="HEAD")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "11")


def test_data_object_link(gw):
    ticket = gw.ticket("ds1/a.txt", anonymous=True)
    assert _get(gw, f"/_t/{ticket.string}/a.txt").body == b"hello world"
    assert _get(gw, f"/_t/{ticket.string}/").body == b"hello world"
    assert _get(gw, f"/_t/{ticket.string}/other.txt").status == 404


def test_collection_listing_page_escapes_names(gw):
    gw.put("ds1/<img src=x onerror=alert(1)>.txt", b"x")
    gw.put("ds1/a b&c.txt", b"yy")
    ticket = gw.ticket("ds1", anonymous=True)
    page = _get(gw, f"/_t/{ticket.string}/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html
    assert f'href="/_t/{ticket.string}/a%20b%26c.txt"' in html
    assert f'href="/_t/{ticket.string}/sub/"' in html
    assert "11 B" in html and "2030-06-01 12:00:00 UTC" in html
    sub = _get(gw, f"/_t/{ticket.string}/sub/").body.decode()
    assert f'href="/_t/{ticket.string}/sub/b.bin"' in sub and "1.0 KiB" in sub
    assert f'href="/_t/{ticket.string}/"' in sub  # link up


def test_link_escapes_are_refused(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    for path in ("../ds10/secret.txt", "..%2Fds10%2Fsecret.txt", "sub//b.bin", "sub/../../ds10/"):
        result = _get(gw, f"/_t/{ticket.string}/{path}")
        assert result.status == 400, path
        assert b"not yours" not in result.body
    assert gw.backend.find_ticket(ticket.id).uses_count == 0


def test_one_use_per_request_and_exhaustion_message(gw):
    ticket = gw.ticket("ds1", anonymous=True, uses_limit=2)
    assert _get(gw, f"/_t/{ticket.string}/a.txt").status == 200
    assert _get(gw, f"/_t/{ticket.string}/").status == 200
    refused = _get(gw, f"/_t/{ticket.string}/a.txt")
    assert refused.status == 410
    assert b"used as often as it may be" in refused.body
    assert gw.backend.find_ticket(ticket.id).uses_count == 2


def test_expired_and_revoked_links_say_so(gw):
    expiring = gw.ticket("ds1", anonymous=True, expires_in=60)
    revoked = gw.ticket("ds1", anonymous=True)
    gw.backend.delete_ticket(Actor("alice"), revoked.id)
    gw.clock.advance(61)
    expired = _get(gw, f"/_t/{expiring.string}/a.txt")
    assert (expired.status, b"expired" in expired.body) == (410, True)
    gone = _get(gw, f"/_t/{revoked.string}/a.txt")
    assert (gone.status, b"revoked" in gone.body) == (404, True)


def test_only_anonymous_tickets_are_served_as_links(gw):
    ticket = gw.ticket("ds1")
    result = _get(gw, f"/_t/{ticket.string}/a.txt")
    assert result.status == 404
    assert _get(gw, "/_t/nonsense/a.txt").status == 404
    assert _get(gw, "/_t//a.txt").status == 404


def test_links_refuse_writes(gw):
    ticket = gw.ticket("ds1", anonymous=True)
    assert _get(gw, f"/_t/{ticket.string}/a.txt", method="PUT").status == 405
    assert _get(gw, f"/_t/{ticket.string}/a.txt", method="DELETE").status == 405


def test_link_host_allow_list(tmp_path):
    world = make_world(tmp_path, Clock(START), trusted_proxies=("10.0.0.1",))
    world.put("ds1/a.txt", b"x")
    ticket = world.ticket("ds1", anonymous=True, hosts=("192.0.2.7",))
    assert _get(world, f"/_t/{ticket.string}/a.txt", remote_addr="192.0.2.7").status == 200
    denied = _get(world, f"/_t/{ticket.string}/a.txt", remote_addr="192.0.2.8")
    assert (denied.status, b"cannot be used from here" in denied.body) == (403, True)
    via_proxy = _get(world, f"/_t/{ticket.string}/a.txt", {"X-Forwarded-For": "192.0.2.7"}, remote_addr="10.0.0.1")
    assert via_proxy.status == 200
    spoofed = _get(world, f"/_t/{ticket.string}/a.txt", {"X-Forwarded-For": "192.0.2.7"}, remote_addr="192.0.2.8")
    assert spoofed.status == 403
    world.backend.close()


def test_link_names_with_unicode_and_conditional(gw):
    gw.put("ds1/caf\u00e9.txt", b"coffee")
    ticket = gw.ticket("ds1", anonymous=True)
    result = _get(gw, f"/_t/{ticket.string}/{quote('café.txt')}")
    assert result.body == b"coffee"
    assert result.headers["content-disposition"] == "inline; filename=\"cafe.txt\"; filename*=UTF-8''caf%C3%A9.txt"
    again = _get(gw, f"/_t/{ticket.string}/{quote('café.txt')}", {"If-None-Match": result.headers["etag"]})
    assert again.status == 304
    gw.clock.advance(timedelta(hours=1).total_seconds())
    assert _get(gw, f"/_t/{ticket.string}/{quote('café.txt')}", {"Range": "bytes=100-"}).status == 416
