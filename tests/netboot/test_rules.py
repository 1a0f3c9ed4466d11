"""Discovery rule conditions: parsing with line-numbered errors, and matching."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from netboot.rules import all_hold, machine_attributes, parse_conditions, parse_number

HARDWARE: dict[str, Any] = {
    "cpu": {"threads": 8, "model": "Intel(R) Xeon(R) Gold 6230", "arch": "x86_64"},
    "memory_bytes": 16 * 1024**3,
    "dmi": {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"},
    "disks": [
        {"device": "/dev/vda", "size_bytes": 20 * 1024**3, "model": "QEMU HARDDISK"},
        {"device": "/dev/vdb", "size_bytes": 40 * 1024**3},
    ],
    "nics": [{"name": "eth0", "mac": "52:54:00:12:34:56", "driver": "virtio_net"}],
    "firmware": "uefi",
}


def attributes() -> dict[str, Any]:
    return machine_attributes(hardware=HARDWARE, mac="52:54:00:12:34:56", arch="x86_64")


def holds(text: str) -> bool:
    return all_hold(parse_conditions(text), attributes())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4096", 4096), ("2G", 2 * 1024**3), ("1.5 TiB", 1.5 * 1024**4), ("512MB", 512 * 1024**2)],
)
def test_sizes_are_binary(text: str, expected: float) -> None:
    assert parse_number(text) == expected


def test_derived_and_flattened_attributes() -> None:
    found = attributes()
    assert found["disks.count"] == 2
    assert found["disks.total_bytes"] == 60 * 1024**3
    assert found["nics.count"] == 1
    assert found["disks.0.model"] == "QEMU HARDDISK"
    assert found["cpu.threads"] == 8
    assert found["mac"] == "52:54:00:12:34:56"


@pytest.mark.parametrize(
    "text",
    [
        "dmi.sys_vendor = qemu",  # text compares without regard to case
        "memory_bytes >= 16G",
        "memory_bytes < 17G",
        "cpu.threads = 8",
        "cpu.threads != 4",
        "disks.count >= 2\ndisks.total_bytes > 50G",
        "mac ~ ^52:54:00:",
        "cpu.model ~ xeon.*6230",
        "dmi.product_name !~ dell",
        "firmware = uefi",
        "# a comment\n\n   arch = x86_64   ",
        "",  # no condition: every machine
    ],
)
def test_conditions_that_hold(text: str) -> None:
    assert holds(text)


@pytest.mark.parametrize(
    "text",
    [
        "dmi.sys_vendor = Dell Inc.",
        "memory_bytes > 16G",
        "disks.count >= 3",
        "mac ~ ^aa:",
        "dmi.sys_vendor = QEMU\ncpu.threads >= 16",  # all must hold
        "dmi.board_serial = X",  # not reported: does not hold
        "dmi.board_serial != X",  # not reported: does not hold either
        "dmi.sys_vendor > 3",  # text against a number never orders
    ],
)
def test_conditions_that_do_not_hold(text: str) -> None:
    assert not holds(text)


def test_every_bad_line_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_conditions("arch = x86_64\nmemory_bytes >= lots\njust words\nmac ~ (\ncpu.threads =")
    messages = caught.value.message_dict["conditions"]
    assert len(messages) == 4
    assert messages[0].startswith("line 2: >= compares numbers; 'lots'")
    assert messages[1].startswith("line 3: expected '<attribute> <operator> <value>'")
    assert messages[2].startswith("line 4: '(' is not a regular expression")
    assert messages[3] == "line 5: 'cpu.threads =' has no value"
