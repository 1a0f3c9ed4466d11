"""Who is asking: the client address of a netboot or metadata request.

Netboot endpoints know a machine by the address it asks from, so behind a relay or a reverse
proxy the peer address is the proxy's. ``X-Forwarded-For`` is honoured only when the peer is
one of NETBOOT_TRUSTED_PROXIES, and then read from the right: each trusted proxy appends the
address it received from, so the first untrusted hop is the client (hops further left are
whatever the client wrote and prove nothing).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _in(ip: str, cidrs: list[str] | tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(cidrs)))


def is_trusted_proxy(ip: str) -> bool:
    return _in(ip, settings.NETBOOT_TRUSTED_PROXIES)


def in_discovery_subnets(ip: str) -> bool:
    return _in(ip, settings.NETBOOT_DISCOVERY_SUBNETS)


def _valid(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def client_address(request: HttpRequest) -> str:
    peer = str(request.META.get("REMOTE_ADDR") or "")
    if not is_trusted_proxy(peer):
        return peer
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    address = peer
    for hop in reversed([hop for hop in hops if hop]):
        if not _valid(hop):
            break  # a proxy that writes garbage vouches for nothing further left
        address = hop
        if not is_trusted_proxy(hop):
            break
    return address
