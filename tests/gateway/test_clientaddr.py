"""Client address from the peer and X-Forwarded-For, trusted only through configured proxies."""
from __future__ import annotations

import pytest

from ticketbooth.s3.clientaddr import client_address, parse_networks

PROXIES = ("10.0.0.0/8", "fd00::1")


@pytest.mark.parametrize(("peer", "xff", "trusted", "expected"), [
    ("192.0.2.5", ["198.51.100.1"], (), "192.0.2.5"),  # no proxies configured: header ignored
    ("192.0.2.5", ["198.51.100.1"], PROXIES, "192.0.2.5"),  # peer not trusted: header ignored
    ("10.1.2.3", ["198.51.100.1"], PROXIES, "198.51.100.1"),
    ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], PROXIES, "198.51.100.1"),  # spoofed left hop not believed
    ("10.1.2.3", ["198.51.100.1, 10.9.9.9"], PROXIES, "198.51.100.1"),  # chain of trusted proxies
    ("10.1.2.3", ["6.6.6.6", "198.51.100.1, 10.9.9.9"], PROXIES, "198.51.100.1"),  # repeated header
    ("10.1.2.3", ["10.2.2.2"], PROXIES, "10.2.2.2"),  # all trusted: left-most seen
    ("10.1.2.3", [], PROXIES, "10.1.2.3"),
    ("10.1.2.3", ["6.6.6.6, garbage"], PROXIES, None),  # fail closed
    ("fd00::1", ["2001:db8::7"], PROXIES, "2001:db8::7"),
    ("10.1.2.3", ["[2001:db8::7]:4711"], PROXIES, "2001:db8::7"),
    ("10.1.2.3", ["198.51.100.1:4711"], PROXIES, "198.51.100.1"),
    ("::ffff:192.0.2.9", [], (), "192.0.2.9"),
    (None, ["198.51.100.1"], PROXIES, None),
    ("not-an-ip", [], (), None),
])
def test_client_address(peer, xff, trusted, expected):
    assert client_address(peer, xff, trusted) == expected


def test_bad_proxy_entry_is_named():
    with pytest.raises(ValueError, match="nonsense"):
        parse_networks(("nonsense",))
