"""The functions Tinkerbell adds to Sprig's for workflow templates: ``formatPartition``,
``netmaskToPrefixLength``, ``toYaml`` and ``fromYaml``."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from workflows.gotemplate.errors import GoFuncError
from workflows.gotemplate.yamlfuncs import from_yaml, to_yaml


def format_partition(dev: str, partition: int) -> str:
    """The device node of a partition: /dev/sda,1 -> /dev/sda1; /dev/nvme0n1,1 ->
    /dev/nvme0n1p1 (names ending in a digit take a "p"); /dev/disk/by-id/x,1 -> x-part1."""
    if dev.startswith("/dev/disk/"):
        return f"{dev}-part{partition}"
    if dev and "0" <= dev[-1] <= "9":
        return f"{dev}p{partition}"
    return f"{dev}{partition}"


def netmask_to_prefix_length(netmask: str) -> str:
    """ "255.255.255.0" -> "24". A mask that is not contiguous ones gives "0", as in Go."""
    try:
        address = ipaddress.ip_address(netmask)
    except ValueError:
        raise GoFuncError(f"invalid netmask format: {netmask}") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            raise GoFuncError(f"netmask must be IPv4: {netmask}")
        address = address.ipv4_mapped
    bits = int(address)
    ones = bin(bits).count("1")
    contiguous = bits == (1 << 32) - (1 << (32 - ones))
    return str(ones if contiguous else 0)


TINKERBELL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "formatPartition": format_partition,
    "netmaskToPrefixLength": netmask_to_prefix_length,
    "toYaml": to_yaml,
    "fromYaml": from_yaml,
}
