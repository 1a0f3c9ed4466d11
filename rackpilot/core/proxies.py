"""The client address behind reverse proxies and load balancers.

Only a peer inside ``TRUSTED_PROXIES`` (CIDRs) is believed about who it forwards for; from
anywhere else ``X-Forwarded-For`` is ignored, so nobody escapes the login lockout or a rate limit
by writing the header. ``X-Forwarded-For`` is read from the right: each trusted proxy appends the
address it received from, so the first hop that is not a trusted proxy is the client (hops
further left are whatever the client wrote and prove nothing).

``ForwardedClientMiddleware`` puts that address in ``REMOTE_ADDR`` before anything reads it (the
login lockout, rate limits, events); the peer it replaced stays in ``META[PEER_KEY]``.
``forwarded_client_asgi`` does the same to a WebSocket's ``scope["client"]``. The servers are
told not to rewrite the address themselves (rackpilot/webserver.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "RACKPILOT_PEER_ADDR"


@lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def address_in(ip: str, cidrs: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(cidrs)))


def _valid(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def resolve_client(peer: str, forwarded_for: str, trusted: Sequence[str]) -> str:
    """The client ``peer`` forwards for, believing only proxies inside ``trusted``."""
    if not trusted or not address_in(peer, trusted):
        return peer
    address = peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _valid(hop):
            break  # a proxy that writes garbage vouches for nothing further left
        address = hop
        if not address_in(hop, trusted):
            break
    return address


def request_peer(request: HttpRequest) -> str:
    """The address the request came from on the wire (the proxy's, behind one)."""
    return str(request.META.get(PEER_KEY) or request.META.get("REMOTE_ADDR") or "")


def client_ip(request: HttpRequest) -> str:
    """The client address (django-axes reads it through AXES_CLIENT_IP_CALLABLE)."""
    return str(request.META.get("REMOTE_ADDR") or "")


class ForwardedClientMiddleware:
    """First in MIDDLEWARE: REMOTE_ADDR becomes the client a trusted proxy forwards for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = str(request.META.get("REMOTE_ADDR") or "")
        request.META[PEER_KEY] = peer
        if settings.TRUSTED_PROXIES:
            request.META["REMOTE_ADDR"] = resolve_client(
                peer, request.headers.get("X-Forwarded-For", ""), settings.TRUSTED_PROXIES
            )
        return self.get_response(request)


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def forwarded_client_asgi(app: ASGIApp) -> ASGIApp:
    """The same for WebSocket scopes (HTTP goes through ForwardedClientMiddleware)."""

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] == "websocket" and client and settings.TRUSTED_PROXIES:
            forwarded = ",".join(
                value.decode("latin-1")
                for name, value in scope.get("headers", [])
                if name.lower() == b"x-forwarded-for"
            )
            address = resolve_client(str(client[0]), forwarded, settings.TRUSTED_PROXIES)
            if address != client[0]:
                scope = {**scope, "client": [address, 0], "rackpilot_peer": client}
        await app(scope, receive, send)

    return application
