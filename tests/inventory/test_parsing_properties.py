"""Property tests for what operators and machines type at Rackpilot: MAC and IP addresses and
bulk-command filters. Whatever comes in, the answer is a result or a clear, named error —
never an unhandled exception."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inventory.fields import normalize_mac
from inventory.filtersets import MachineFilterSet
from inventory.selection import SelectionError, machine_selection
from netboot.addresses import client_address

CANONICAL_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
HEX = "0123456789abcdefABCDEF"
MAC_ALPHABET = HEX + ":-. gxZ\t\n"


@given(st.text(alphabet=MAC_ALPHABET, max_size=24) | st.text(max_size=24))
@example("52:54:00:12:34:56")
@example("5254.0012.3456")
@example("52-54-0-12-34-56")
@example("")
def test_a_mac_is_canonical_or_refused_by_name(text: str) -> None:
    try:
        mac = normalize_mac(text)
    except ValidationError as exc:
        refusal = exc
    else:
        refusal = None
    if refusal is not None:
        assert refusal.code == "invalid_mac"
        assert "is not a MAC address" in refusal.messages[0]
        return
    assert CANONICAL_MAC.match(mac), mac
    assert normalize_mac(mac) == mac  # idempotent
    # The same six bytes as typed: separators and zero padding are all that changed.
    parts = re.split(r"[:.-]", text.strip().lower())
    octets = [int(octet, 16) for octet in mac.split(":")]
    if len(parts) == 6:
        assert [int(part, 16) for part in parts] == octets
    else:
        assert "".join(parts) == mac.replace(":", "")


@given(st.binary(min_size=6, max_size=6), st.sampled_from(["colon", "dash", "cisco", "bare"]))
def test_every_spelling_of_a_mac_names_the_same_interface(raw: bytes, spelling: str) -> None:
    pairs = [f"{byte:02x}" for byte in raw]
    canonical = ":".join(pairs)
    joined = "".join(pairs)
    text = {
        "colon": ":".join(pairs).upper(),
        "dash": "-".join(pairs),
        "cisco": ".".join(joined[i : i + 4] for i in range(0, 12, 4)),
        "bare": joined,
    }[spelling]
    assert normalize_mac(f" {text} ") == canonical


ADDRESS = st.ip_addresses().map(str)
HOP = st.one_of(ADDRESS, st.text(max_size=20), st.just(""), st.just("unknown"))


@settings(deadline=None)
@given(
    peer=st.one_of(ADDRESS, st.text(max_size=20)),
    hops=st.lists(HOP, max_size=6),
    trusted=st.lists(st.sampled_from(["10.0.0.0/8", "127.0.0.0/8", "::1/128", "fd00::/8"])),
)
@example(peer="10.0.0.1", hops=["1.2.3.4", "garbage", "10.0.0.9"], trusted=["10.0.0.0/8"])
def test_the_client_address_is_the_peer_or_an_address_a_trusted_proxy_vouched_for(
    peer: str, hops: list[str], trusted: list[str]
) -> None:
    from django.test import override_settings

    request = RequestFactory().get(
        "/ipxe/auto.ipxe", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=", ".join(hops)
    )
    with override_settings(NETBOOT_TRUSTED_PROXIES=trusted):
        address = client_address(request)
        networks = [ipaddress.ip_network(cidr) for cidr in trusted]

        def is_trusted(ip: str) -> bool:
            try:
                parsed = ipaddress.ip_address(ip)
            except ValueError:
                return False
            return any(parsed in network for network in networks)

    if not is_trusted(peer):
        assert address == peer  # an untrusted peer's X-Forwarded-For counts for nothing
        return
    assert address == peer or address in hops
    if address != peer:
        ipaddress.ip_address(address)  # only a well-formed hop is ever believed
        # Every hop right of the answer was a trusted proxy.
        right = [hop.strip() for hop in hops if hop.strip()]
        index = len(right) - 1 - right[::-1].index(address)
        assert all(is_trusted(hop) for hop in right[index + 1 :])


FILTER_KEYS = [*sorted(MachineFilterSet.base_filters), "racks", "", "Q", "state "]
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children)
    ),
    max_leaves=6,
)


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    filters=st.one_of(
        st.dictionaries(st.sampled_from(FILTER_KEYS), JSON_VALUE, max_size=4),
        st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=2),
        JSON_VALUE,
    ),
    select_all=st.booleans(),
)
@example(filters={"racks": "R07"}, select_all=False)
@example(filters={"state": []}, select_all=False)
@example(filters={"q": ""}, select_all=False)
@example(filters={"rack_id": 2**70}, select_all=False)
@example(filters={"ip": "garbage"}, select_all=False)
@example(filters={"mac": "52:54:zz"}, select_all=False)
@example(filters={"ip": "10.0.0.1", "mac": "5254.0012.3456"}, select_all=False)
def test_a_filter_selects_machines_or_names_what_is_wrong(filters: Any, select_all: bool) -> None:
    try:
        selection = machine_selection(filters=filters, select_all=select_all)
    except SelectionError as exc:
        errors = exc.errors
    else:
        errors = {}
    if errors:
        allowed = {"filter", "all"} | (set(filters) if isinstance(filters, dict) else set())
        assert set(errors) <= allowed, errors
        assert all(isinstance(message, str) and message for message in errors.values())
        return
    # Nothing is selected by accident: an empty filter needed all: true.
    assert selection.filters or selection.select_all
    assert selection.count == len(set(selection.ids))
