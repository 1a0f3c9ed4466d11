"""Go's ``fmt.Sprintf`` and ``strconv.Quote`` for template values.

Covers the verbs real templates use (%v %s %d %q %x %X %t %f %e %g %c %o %b %U %T %%) with
flags (``-+# 0``), widths and precisions including ``*``, and Go's in-band error notation
(``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA int=1)``) instead of exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .values import format_float, format_value, go_type_name, sorted_keys

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escape_rune(char: str, quote: str, ascii_only: bool) -> str:
    if char == quote or char == "\\":
        return "\\" + char
    code = ord(char)
    printable = char.isprintable() and not 0xD800 <= code <= 0xDFFF
    if printable and (not ascii_only or code < 0x80):
        return char
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str, *, ascii_only: bool = False) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    return '"' + "".join(_escape_rune(char, '"', ascii_only) for char in text) + '"'


def go_quote_rune(code: int, *, ascii_only: bool = False) -> str:
    """strconv.QuoteRune: a single-quoted Go character literal."""
    char = chr(code) if 0 <= code <= 0x10FFFF else "\ufffd"
    return "'" + _escape_rune(char, "'", ascii_only) + "'"


def _can_backquote(text: str) -> bool:
    return all(char == "\t" or (char >= " " and char not in "`\x7f\ufeff") for char in text)


@dataclass(frozen=True, slots=True)
class _Spec:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    precision: int | None = None


def _pad(text: str, spec: _Spec) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    return ("0" if spec.zero else " ") * fill + text


def _bad_verb(verb: str, value: object) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={format_value(value)})"


def _format_integer(value: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad(go_quote_rune(value, ascii_only=spec.plus), spec)
    if verb == "U":
        text = f"U+{value:04X}" if value >= 0 else f"U+-{-value:04X}"
        if spec.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
            text += f" '{chr(value)}'"
        return _pad(text, spec)
    bases = {"v": "d", "d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}
    base = bases.get(verb)
    if base is None:
        return _bad_verb(verb, value)
    digits = format(abs(value), base)
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    precision = spec.precision
    if precision is not None:
        if precision == 0 and value == 0:
            return _pad("", replace(spec, zero=False))
    elif spec.zero and not spec.minus and spec.width is not None:
        # Zero padding goes between the sign and the digits, so it acts like a precision.
        precision = spec.width - len(sign)
    if precision is not None:
        digits = digits.rjust(precision, "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif spec.sharp:
        prefix = {"b": "0b", "x": "0x", "X": "0X"}.get(base, "")
        if base == "o" and not digits.startswith("0"):
            prefix = "0"
    return _pad(sign + prefix + digits, replace(spec, zero=False))


def _format_floating(value: float, verb: str, spec: _Spec) -> str:
    defaults = {"v": ("g", -1), "g": ("g", -1), "G": ("G", -1)}
    defaults.update({"e": ("e", 6), "E": ("E", 6), "f": ("f", 6), "F": ("f", 6)})
    if verb not in defaults:
        return _bad_verb(verb, value)
    fmt, precision = defaults[verb]
    if spec.precision is not None:
        precision = spec.precision
    text = format_float(value, fmt, precision)
    if text[0] not in "+-":
        text = "+" + text
    if spec.space and text[0] == "+" and not spec.plus:
        text = " " + text[1:]
    if text[1] in "IN":
        # Infinities and NaN are never zero padded; NaN only shows a sign when asked to.
        if text[1] == "N" and not spec.space and not spec.plus:
            text = text[1:]
        return _pad(text, replace(spec, zero=False))
    if spec.plus or text[0] != "+":
        if spec.zero and not spec.minus and spec.width is not None and spec.width > len(text):
            return text[0] + "0" * (spec.width - len(text)) + text[1:]
        return _pad(text, spec)
    return _pad(text[1:], spec)


def _format_string(value: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        if spec.precision is not None:
            value = value[: spec.precision]
        return _pad(value, spec)
    if verb == "q":
        if spec.precision is not None:
            value = value[: spec.precision]
        if spec.sharp and _can_backquote(value):
            return _pad(f"`{value}`", spec)
        return _pad(go_quote(value, ascii_only=spec.plus), spec)
    if verb in "xX":
        data = value.encode("utf-8", "surrogateescape")
        if spec.precision is not None:
            data = data[: spec.precision]
        pieces = [format(byte, "02x" if verb == "x" else "02X") for byte in data]
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        if spec.space:
            return _pad(" ".join(prefix + piece for piece in pieces), spec)
        return _pad(prefix + "".join(pieces), spec)
    return _bad_verb(verb, value)


def format_arg(value: object, verb: str, spec: _Spec) -> str:
    """Format one operand the way Go's printArg/printValue does."""
    if verb == "T":
        return _pad(go_type_name(value), spec)
    if value is None:
        return _pad("<nil>", spec) if verb == "v" else _bad_verb(verb, value)
    if isinstance(value, bool):
        if verb in "tv":
            return _pad("true" if value else "false", spec)
        return _bad_verb(verb, value)
    if isinstance(value, int):
        return _format_integer(int(value), verb, spec)
    if isinstance(value, float):
        return _format_floating(float(value), verb, spec)
    if isinstance(value, str):
        return _format_string(str.__str__(value), verb, spec)
    if isinstance(value, Mapping):
        items = " ".join(
            f"{format_arg(key, verb, spec)}:{format_arg(value[key], verb, spec)}"
            for key in sorted_keys(value)
        )
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_arg(item, verb, spec) for item in value) + "]"
    if verb in "vs":
        return _pad(format_value(value), spec)
    return _bad_verb(verb, value)


def _parse_number(fmt: str, index: int) -> tuple[int | None, int]:
    start = index
    while index < len(fmt) and fmt[index].isdigit():
        index += 1
    return (int(fmt[start:index]) if index > start else None), index


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """Go's fmt.Sprintf over already-evaluated template values."""
    out: list[str] = []
    arg_index = 0
    reordered = False
    index = 0
    length = len(fmt)
    while index < length:
        percent = fmt.find("%", index)
        if percent < 0:
            out.append(fmt[index:])
            break
        out.append(fmt[index:percent])
        index = percent + 1
        flags = {"minus": False, "plus": False, "sharp": False, "space": False, "zero": False}
        names = {"-": "minus", "+": "plus", "#": "sharp", " ": "space", "0": "zero"}
        while index < length and fmt[index] in names:
            flags[names[fmt[index]]] = True
            index += 1
        if index < length and fmt[index] == "[":
            close = fmt.find("]", index)
            if close > index and fmt[index + 1 : close].isdigit():
                arg_index = int(fmt[index + 1 : close]) - 1
                reordered = True
                index = close + 1
        width: int | None = None
        if index < length and fmt[index] == "*":
            index += 1
            if arg_index < len(args) and type(args[arg_index]) is int:
                width = args[arg_index]  # type: ignore[assignment]
                if width is not None and width < 0:
                    flags["minus"], width = True, -width
            else:
                out.append("%!(BADWIDTH)")
            arg_index += 1
        else:
            width, index = _parse_number(fmt, index)
        precision: int | None = None
        if index < length and fmt[index] == ".":
            index += 1
            if index < length and fmt[index] == "*":
                index += 1
                if arg_index < len(args) and type(args[arg_index]) is int:
                    precision = args[arg_index]  # type: ignore[assignment]
                    if precision is not None and precision < 0:
                        precision = None
                else:
                    out.append("%!(BADPREC)")
                arg_index += 1
            else:
                precision, index = _parse_number(fmt, index)
                precision = precision or 0
        if flags["minus"]:
            # Go only pads with zeros on the left.
            flags["zero"] = False
        if index >= length:
            out.append("%!(NOVERB)")
            break
        verb = fmt[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if arg_index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        spec = _Spec(width=width, precision=precision, **flags)
        out.append(format_arg(args[arg_index], verb, spec))
        arg_index += 1
    if not reordered and arg_index < len(args):
        extras = [
            "<nil>" if arg is None else f"{go_type_name(arg)}={format_value(arg)}"
            for arg in args[arg_index:]
        ]
        out.append("%!(EXTRA " + ", ".join(extras) + ")")
    return "".join(out)
