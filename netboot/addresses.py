"""Who is asking: the client address of a netboot or metadata request.

Netboot endpoints know a machine by the address it asks from, so behind a relay or a reverse
proxy the peer address is the proxy's. Besides the site-wide TRUSTED_PROXIES (whose
``X-Forwarded-For`` every request believes, rackpilot/core/proxies.py), the netboot and metadata
endpoints also believe NETBOOT_TRUSTED_PROXIES: relays on the provisioning networks, which may
fetch a machine's script on its behalf too.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from rackpilot.core.proxies import address_in, request_peer, resolve_client


def is_trusted_proxy(ip: str) -> bool:
    return address_in(ip, settings.NETBOOT_TRUSTED_PROXIES)


def in_discovery_subnets(ip: str) -> bool:
    return address_in(ip, settings.NETBOOT_DISCOVERY_SUBNETS)


def client_address(request: HttpRequest) -> str:
    """Walked from the peer on the wire, believing both kinds of proxy."""
    trusted = [*settings.TRUSTED_PROXIES, *settings.NETBOOT_TRUSTED_PROXIES]
    return resolve_client(
        request_peer(request), request.headers.get("X-Forwarded-For", ""), trusted
    )
