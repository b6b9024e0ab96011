"""Which client address a request came from, believing ``X-Forwarded-For`` only from trusted proxies.

The rule (as nginx's ``real_ip_recursive on`` and werkzeug's ``ProxyFix`` apply it): start from the peer
address; while the address at hand is a trusted proxy, step one hop left in ``X-Forwarded-For``; the first
address that is not a trusted proxy is the client. A hop that is not an IP address ends the walk with no
address at all, so a host allow-list then refuses (fail closed) rather than trusting garbage.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = ["client_address", "parse_networks"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=64)
def parse_networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    """Parse trusted-proxy entries (addresses or CIDR networks); ``ValueError`` names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


@lru_cache(maxsize=1024)  # twice per request (metrics, then the decision), mostly the same few peers
def _address(text: str | None) -> _Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:1234"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, networks: Sequence[_Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    remote_addr: str | None, forwarded_for: Iterable[str] = (), trusted_proxies: Sequence[str] = ()
) -> str | None:
    """The client's IP address as text, or ``None`` when it cannot be known.

    ``remote_addr`` is the TCP peer; ``forwarded_for`` the ``X-Forwarded-For`` header values in the order
    received (each may list several comma-separated hops); ``trusted_proxies`` addresses or CIDR networks.
    """
    peer = _address(remote_addr)
    if peer is None:
        return None
    networks = parse_networks(tuple(trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    current = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return None
        current = address
        if not _trusted(current, networks):
            return str(current)
    # Every hop is a trusted proxy: the left-most is as far as we can see.
    return str(current)
