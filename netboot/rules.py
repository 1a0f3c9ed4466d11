"""Discovery rule conditions: one condition per line, all must hold.

A condition is ``<attribute> <operator> <value>``::

    # QEMU test machines with at least 2 GiB and two disks
    dmi.sys_vendor = QEMU
    memory_bytes >= 2G
    disks.count >= 2
    mac ~ ^52:54:00:

Attributes are dotted paths into the hardware the agent reported (``cpu.threads``,
``dmi.product_name``, ``disks.0.model``) plus a few derived ones: ``mac`` (the boot MAC),
``arch``, ``firmware``, ``disks.count``, ``disks.total_bytes``, ``nics.count``. Operators:
``=`` and ``!=`` (numbers compare as numbers, text without regard to case), ``~`` and ``!~``
(regular expression search, ignoring case), ``<``, ``<=``, ``>``, ``>=`` (numbers only; sizes
may carry a binary suffix: ``512M``, ``2G``, ``1.5T``). A condition on an attribute the machine
did not report does not hold. Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

LINE = re.compile(
    r"^(?P<attribute>[A-Za-z_][\w.-]*)\s*(?P<op>!=|>=|<=|!~|=|~|>|<)\s*(?P<value>.*)$"
)
SIZE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMGTP]?)(?:i?B)?$", re.IGNORECASE)
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
ORDERINGS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def parse_number(text: str) -> float | None:
    """``4096``, ``2G``, ``1.5 TiB`` → a number; anything else → None."""
    match = SIZE.match(text.strip())
    if match is None:
        return None
    return float(match["number"]) * UNITS[match["unit"].upper()]


@dataclass(frozen=True)
class Condition:
    line: int
    attribute: str
    op: str
    value: str
    number: float | None
    pattern: re.Pattern[str] | None

    def holds(self, attributes: dict[str, Any]) -> bool:
        if self.attribute not in attributes:
            return False
        actual = attributes[self.attribute]
        if self.op in ("~", "!~"):
            assert self.pattern is not None
            found = self.pattern.search(_text(actual)) is not None
            return found if self.op == "~" else not found
        actual_number = _number(actual)
        if self.op in ORDERINGS:
            return actual_number is not None and ORDERINGS[self.op](actual_number, self.number or 0)
        if self.number is not None and actual_number is not None:
            equal = actual_number == self.number
        else:
            equal = _text(actual).casefold() == self.value.casefold()
        return equal if self.op == "=" else not equal

    def __str__(self) -> str:
        return f"{self.attribute} {self.op} {self.value}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_number(str(value))


def parse_conditions(text: str) -> list[Condition]:
    """The conditions in ``text``; a ValidationError on ``conditions`` names each bad line."""
    conditions: list[Condition] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            errors.append(
                f"line {number}: expected '<attribute> <operator> <value>' with one of "
                f"= != ~ !~ < <= > >=, got {line!r}"
            )
            continue
        op, value = match["op"], match["value"].strip()
        if not value:
            errors.append(f"line {number}: '{match['attribute']} {op}' has no value")
            continue
        pattern = None
        if op in ("~", "!~"):
            try:
                pattern = re.compile(value, re.IGNORECASE)
            except re.error as exc:
                errors.append(f"line {number}: {value!r} is not a regular expression: {exc}")
                continue
        amount = parse_number(value)
        if op in ORDERINGS and amount is None:
            errors.append(
                f"line {number}: {op} compares numbers; {value!r} is not a number or a size"
            )
            continue
        conditions.append(
            Condition(
                line=number,
                attribute=match["attribute"],
                op=op,
                value=value,
                number=amount,
                pattern=pattern,
            )
        )
    if errors:
        raise ValidationError({"conditions": errors})
    return conditions


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}.{index}" if prefix else str(index), item, into)
    elif prefix:
        into[prefix] = value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _sizes(disks: Iterable[Any]) -> int:
    return sum(
        d["size_bytes"]
        for d in disks
        if isinstance(d, dict) and isinstance(d.get("size_bytes"), int)
    )


def machine_attributes(*, hardware: dict[str, Any], mac: str, arch: str) -> dict[str, Any]:
    """What conditions test: the reported hardware flattened, plus the derived attributes."""
    attributes: dict[str, Any] = {}
    _flatten("", hardware, attributes)
    disks = _list(hardware.get("disks"))
    nics = _list(hardware.get("nics"))
    attributes.update(
        {
            "mac": mac,
            "arch": arch,
            "disks.count": len(disks),
            "disks.total_bytes": _sizes(disks),
            "nics.count": len(nics),
        }
    )
    return attributes


def all_hold(conditions: Iterable[Condition], attributes: dict[str, Any]) -> bool:
    return all(condition.holds(attributes) for condition in conditions)
