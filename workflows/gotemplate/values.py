"""Go's view of Python values: type names, truthiness and default (``%v``) formatting.

Templates see JSON-like data: ``None`` is Go's nil, ``bool``/``int``/``float``/``str`` are the
basic kinds, lists and tuples are slices, mappings are maps, anything else is a struct.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence, Sized
from typing import Any

# Maps print in sorted key order in Go (fmt and range both sort); keys of different kinds are
# grouped by kind first so mixed-key dicts still sort deterministically.
_KEY_RANK = {bool: 0, int: 1, float: 1, str: 2}


def go_type_name(value: object) -> str:
    """The Go type a value stands for, as Go spells it in error messages."""
    # Values of Sprig's other Go types (int64, []string, time.Time...) name their own type.
    named = getattr(type(value), "GO_TYPE", None)
    if named is not None:
        return str(named)
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, bytes | bytearray):
        return "[]uint8"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def is_true(value: object) -> bool:
    """Go's template truth: false, 0, nil and empty strings/slices/maps are false."""
    if value is None:
        return False
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[return-value]
    if kind is str or kind is list or kind is dict or kind is tuple:
        return len(value) > 0  # type: ignore[arg-type]
    if kind is int or kind is float or kind is complex:
        return value != 0
    if isinstance(value, bool | int | float | complex):
        return bool(value)
    if isinstance(value, Sized):
        return len(value) > 0
    # Structs, functions and other objects are always true, as in Go.
    return True


def sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    return sorted(mapping.keys(), key=_key_order)


def _key_order(key: object) -> tuple[int, Any]:
    rank = _KEY_RANK.get(type(key))
    if rank is not None:
        return rank, key
    return 3, repr(key)


def format_value(value: object) -> str:
    """Go's ``fmt.Sprint`` of one value (the ``%v`` verb with no flags)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return format_float(value, "g", -1)  # type: ignore[arg-type]
    if value is None:
        return "<nil>"
    # Go types with a String method (time.Time, time.Duration, *semver.Version) print by it.
    stringer = getattr(kind, "go_string", None)
    if stringer is not None:
        return str(stringer(value))
    if isinstance(value, Mapping):
        items = " ".join(
            f"{format_value(key)}:{format_value(value[key])}" for key in sorted_keys(value)
        )
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float(float(value), "g", -1)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray):
        return "[" + " ".join(str(byte) for byte in value) + "]"
    if isinstance(value, complex):
        real = format_float(value.real, "g", -1)
        imag = format_float(value.imag, "g", -1)
        return f"({real}{'' if imag[0] in '+-' else '+'}{imag}i)"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return "{" + " ".join(format_value(getattr(value, f.name)) for f in fields) + "}"
    return str(value)


def sprint(args: Sequence[object]) -> str:
    """Go's ``fmt.Sprint``: a space goes between operands when neither side is a string."""
    parts: list[str] = []
    previous_is_string = False
    for index, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if index and not is_string and not previous_is_string:
            parts.append(" ")
        parts.append(format_value(arg))
        previous_is_string = is_string
    return "".join(parts)


def sprintln(args: Sequence[object]) -> str:
    """Go's ``fmt.Sprintln``: always a space between operands, and a trailing newline."""
    return " ".join(format_value(arg) for arg in args) + "\n"


# --- floating point, as strconv.FormatFloat prints it ---------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-tripping decimal digits of a positive finite float, and the position
    of the decimal point relative to them (value = 0.DIGITS x 10**point)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def _e_form(digits: str, point: int, precision: int, upper: bool) -> str:
    text = digits[0]
    if precision > 0:
        text += "." + digits[1 : precision + 1].ljust(precision, "0")
    exponent = point - 1 if digits != "0" else 0
    sign = "-" if exponent < 0 else "+"
    return f"{text}{'E' if upper else 'e'}{sign}{abs(exponent):02d}"


def _f_form(digits: str, point: int, precision: int) -> str:
    if point <= 0:
        whole = "0"
        fraction = "0" * -point + digits
    else:
        whole = digits[:point].ljust(point, "0")
        fraction = digits[point:]
    if precision > 0:
        return whole + "." + fraction[:precision].ljust(precision, "0")
    return whole


def format_float(value: float, fmt: str, precision: int) -> str:
    """strconv.FormatFloat(value, fmt, precision, 64) for fmt in e, E, f, g, G.

    Precision -1 means "shortest representation that round-trips"; for %g that switches to
    exponent form at exponents below -4 or from 6 upwards (so 1e6 prints as ``1e+06``).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    upper = fmt in "EG"
    kind = fmt.lower()
    if precision >= 0:
        # Python's fixed-precision formatting is correctly rounded and writes exponents with
        # at least two digits, exactly like Go's.
        return format(value, f".{precision}{fmt}")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        digits, point = "0", 1
    else:
        digits, point = _shortest_digits(abs(value))
    if kind == "e":
        return sign + _e_form(digits, point, len(digits) - 1, upper)
    if kind == "f":
        return sign + _f_form(digits, point, max(len(digits) - point, 0))
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        return sign + _e_form(digits, point, len(digits) - 1, upper)
    return sign + _f_form(digits, point, max(len(digits) - point, 0))


def format_json_float(value: float) -> str:
    """encoding/json's float64 text: plain decimals, exponent only for tiny or huge values."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = format_float(value, "e", -1)
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}e{exponent[0]}{int(exponent[1:])}" if exponent[0] == "-" else text
    return format_float(value, "f", -1)
