"""Go types that Sprig's functions return and templates can tell apart.

Plain Python values stand for Go's JSON-like types (``int`` is Go's ``int``, ``list`` is
``[]interface {}``...). Sprig also returns ``int64``, ``[]string``, ``map[string]string`` and
nil slices; these differ from the plain types in what ``typeOf``/``kindOf`` report, in
``deepEqual``, in how ``toJson`` writes them (a nil slice is ``null``) and in which function
parameters accept them (an ``int64`` is not an ``int``), so they get marker subclasses here.
``go_type_name`` (values.py) reads their ``GO_TYPE``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from .errors import GoFuncError
from .values import format_value, go_type_name

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Int64(int):
    GO_TYPE: ClassVar[str] = "int64"
    GO_KIND: ClassVar[str] = "int64"


class Uint64(int):
    GO_TYPE: ClassVar[str] = "uint64"
    GO_KIND: ClassVar[str] = "uint64"


class StringSlice(list[str]):
    GO_TYPE: ClassVar[str] = "[]string"
    GO_KIND: ClassVar[str] = "slice"


class IntSlice(list[int]):
    GO_TYPE: ClassVar[str] = "[]int"
    GO_KIND: ClassVar[str] = "slice"


class SliceOfSlices(list[list[Any]]):
    GO_TYPE: ClassVar[str] = "[][]interface {}"
    GO_KIND: ClassVar[str] = "slice"


class NilSlice(list[Any]):
    """A nil ``[]interface {}``: prints as ``[]`` but encodes to JSON as ``null``."""

    GO_TYPE: ClassVar[str] = "[]interface {}"
    GO_KIND: ClassVar[str] = "slice"
    IS_NIL: ClassVar[bool] = True


class NilStringSlice(StringSlice):
    IS_NIL: ClassVar[bool] = True


class StringMap(dict[str, str]):
    GO_TYPE: ClassVar[str] = "map[string]string"
    GO_KIND: ClassVar[str] = "map"


def int64(value: int) -> Int64:
    """Wrap to 64 bits, as Go's int64 arithmetic does."""
    value = (value - INT64_MIN) % 2**64 + INT64_MIN
    return Int64(value)


def wrap_int(value: int) -> int:
    return (value - INT64_MIN) % 2**64 + INT64_MIN


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_interface_list(value: object) -> bool:
    """Assignable to a ``[]interface {}`` parameter."""
    return isinstance(value, list | tuple) and go_type_name(value) == "[]interface {}"


def is_interface_map(value: object) -> bool:
    """Assignable to a ``map[string]interface {}`` parameter."""
    return isinstance(value, Mapping) and go_type_name(value) == "map[string]interface {}"


def expect_map(value: object) -> Mapping[str, Any]:
    """A ``map[string]interface {}`` parameter. A nil from the data is refused as Go refuses
    it (its type is interface {}); only a literal ``nil`` would pass in Go, as a nil map."""
    if not is_interface_map(value):
        raise GoFuncError(
            f"wrong type for value; expected map[string]interface {{}}; got {go_type_name(value)}"
        )
    return value  # type: ignore[return-value]


def kind_name(value: object) -> str:
    """reflect.Kind's name for a value (``kindOf``)."""
    kind = getattr(type(value), "GO_KIND", None)
    if kind:
        return str(kind)
    if value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray | list | tuple):
        return "slice"
    if isinstance(value, Mapping):
        return "map"
    if callable(value):
        return "func"
    return "struct"


# --- byte strings -----------------------------------------------------------------------------
# Go strings are bytes; a template that slices in the middle of a character produces bytes that
# are not UTF-8. They are carried in Python strings as surrogate escapes, which turn back into
# the same bytes when the output is encoded with errors="surrogateescape".


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(to_bytes(text))


def byte_slice(text: str, start: int, end: int | None = None) -> str:
    if text.isascii():
        return text[start:end]
    return from_bytes(to_bytes(text)[start:end])


def latin1_runes(data: bytes) -> str:
    """Each byte taken as a rune, as Go code that does ``rune(s[i])`` gets it."""
    return data.decode("latin-1")


# --- conversions (Sprig's strval and spf13/cast) ----------------------------------------------


def strval(value: object) -> str:
    """Sprig's string conversion: strings as they are, Stringers by String(), the rest as %v."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return from_bytes(bytes(value))
    return format_value(value)


def strslice(value: object) -> StringSlice:
    """Sprig's strslice: a list of strings, nils dropped; a lone value becomes a one-item list."""
    if isinstance(value, StringSlice):
        return value
    if isinstance(value, list | tuple):
        return StringSlice(strval(item) for item in value if item is not None)
    if value is None:
        return StringSlice()
    return StringSlice([strval(value)])


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _underscore_ok(text: str) -> bool:
    """strconv's rule: underscores only between digits (or after a base prefix)."""
    saw = "^"
    if text[:1] in ("+", "-"):
        text = text[1:]
    index = 0
    hexadecimal = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        index = 2
        saw = "0"
        hexadecimal = text[1].lower() == "x"
    for char in text[index:]:
        if char.isascii() and (char.isdigit() or (hexadecimal and char.lower() in "abcdef")):
            saw = "0"
            continue
        if char == "_":
            if saw != "0":
                return False
            saw = "_"
            continue
        if saw == "_":
            return False
        saw = "!"
    return saw != "_"


def parse_uint(text: str, base: int = 10, bits: int = 64) -> int:
    """strconv.ParseUint; raises ValueError on bad syntax or overflow."""
    if text == "":
        raise ValueError("invalid syntax")
    original = text
    base_zero = base == 0
    if base_zero:
        base = 10
        if text[0] == "0":
            if len(text) >= 3 and text[1].lower() == "b":
                base, text = 2, text[2:]
            elif len(text) >= 3 and text[1].lower() == "o":
                base, text = 8, text[2:]
            elif len(text) >= 3 and text[1].lower() == "x":
                base, text = 16, text[2:]
            else:
                base, text = 8, text[1:]
    value = 0
    underscores = False
    for char in text:
        if char == "_" and base_zero:
            underscores = True
            continue
        digit = _DIGITS.find(char.lower()) if char.isascii() else -1
        if digit < 0 or digit >= base:
            raise ValueError("invalid syntax")
        value = value * base + digit
    if underscores and not _underscore_ok(original):
        raise ValueError("invalid syntax")
    if value >= 2**bits:
        raise ValueError("value out of range")
    return value


def parse_int(text: str, base: int = 10, bits: int = 64) -> int:
    """strconv.ParseInt; raises ValueError on bad syntax or overflow."""
    if text == "":
        raise ValueError("invalid syntax")
    negative = text[0] == "-"
    body = text[1:] if text[0] in "+-" else text
    magnitude = parse_uint(body, base, bits)
    if not negative and magnitude > 2 ** (bits - 1) - 1:
        raise ValueError("value out of range")
    if negative and magnitude > 2 ** (bits - 1):
        raise ValueError("value out of range")
    return -magnitude if negative else magnitude


_DECIMAL_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+"
)
_SPECIAL_FLOAT = re.compile(r"([+-]?)(?:inf|infinity)|nan", re.IGNORECASE)


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64); raises ValueError on bad syntax or overflow."""
    special = _SPECIAL_FLOAT.fullmatch(text)
    if special:
        if text.lower().endswith("nan"):
            return math.nan
        return -math.inf if special.group(1) == "-" else math.inf
    if "_" in text and not _underscore_ok(text):
        raise ValueError("invalid syntax")
    plain = text.replace("_", "")
    if _DECIMAL_FLOAT.fullmatch(text) and any(char.isdigit() for char in plain):
        value = float(plain)
    elif _HEX_FLOAT.fullmatch(text):
        sign = -1.0 if plain[0] == "-" else 1.0
        try:
            value = sign * float.fromhex(plain.lstrip("+-"))
        except OverflowError:
            raise ValueError("value out of range") from None
    else:
        raise ValueError("invalid syntax")
    if math.isinf(value):
        raise ValueError("value out of range")
    return value


def _trim_zero_decimal(text: str) -> str:
    """cast's trimZeroDecimal: "12.000" becomes "12" (only all-zero fractions)."""
    found_zero = False
    for index in range(len(text), 0, -1):
        char = text[index - 1]
        if char == ".":
            if found_zero:
                return text[: index - 1]
        elif char == "0":
            found_zero = True
        else:
            return text
    return text


def float_to_int64(value: float) -> int:
    """Go's int64(f) on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(value) or math.isinf(value) or not INT64_MIN <= value < 2**63:
        return INT64_MIN
    return int(value)


def to_int64(value: object) -> int:
    """cast.ToInt64: strings parse as Go literals, floats truncate, the rest is 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return wrap_int(int(value))
    if isinstance(value, float):
        return float_to_int64(value)
    if isinstance(value, str):
        try:
            return parse_int(_trim_zero_decimal(value), 0, 64)
        except ValueError:
            return 0
    return 0


def to_float64(value: object) -> float:
    """cast.ToFloat64: 0 when the value cannot be converted."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return parse_float(value)
        except ValueError:
            return 0.0
    return 0.0
