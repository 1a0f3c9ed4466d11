"""Go literal syntax: quoted strings, raw strings, character constants and numbers."""

from __future__ import annotations

from .printf import go_quote

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SIMPLE = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
}
_HEX = "0123456789abcdefABCDEF"


class LiteralError(ValueError):
    pass


def _read_escape(body: str, index: int, quote: str) -> tuple[int, bool, int]:
    """Decode the escape starting after a backslash at ``index``.

    Returns (value, is_byte, next index): ``\\x`` and octal escapes denote single bytes in Go,
    the others denote Unicode code points.
    """
    if index >= len(body):
        raise LiteralError("invalid syntax")
    char = body[index]
    if char in _SIMPLE:
        return _SIMPLE[char], False, index + 1
    if char in "'\"":
        if char != quote:
            raise LiteralError("invalid syntax")
        return ord(char), False, index + 1
    if char in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[char]
        digits = body[index + 1 : index + 1 + size]
        if len(digits) != size or any(d not in _HEX for d in digits):
            raise LiteralError("invalid syntax")
        value = int(digits, 16)
        if char != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise LiteralError("invalid syntax")
        return value, char == "x", index + 1 + size
    if "0" <= char <= "7":
        digits = body[index : index + 3]
        if len(digits) != 3 or any(not "0" <= d <= "7" for d in digits):
            raise LiteralError("invalid syntax")
        value = int(digits, 8)
        if value > 255:
            raise LiteralError("invalid syntax")
        return value, True, index + 3
    raise LiteralError("invalid syntax")


def unquote_string(token: str) -> str:
    """strconv.Unquote for a double-quoted or backquoted template string."""
    if token.startswith("`"):
        # Go drops carriage returns from raw strings so CRLF files behave like LF files.
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            index += 1
            continue
        value, is_byte, index = _read_escape(body, index + 1, '"')
        out += bytes([value]) if is_byte else chr(value).encode("utf-8")
    # Byte escapes may form invalid UTF-8 (Go allows that); show those bytes as U+FFFD.
    return out.decode("utf-8", "replace")


def unquote_char(token: str) -> int:
    """The code point of a character constant such as ``'a'`` or ``'\\n'``."""
    body = token[1:-1]
    if not body:
        raise LiteralError("invalid syntax")
    if body[0] != "\\":
        if len(body) != 1:
            raise LiteralError("invalid syntax")
        return ord(body)
    value, _, end = _read_escape(body, 1, "'")
    if end != len(body):
        raise LiteralError("invalid syntax")
    return value


def _parse_int(text: str) -> int | None:
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if not body:
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
            # A leading 0 means octal, as in Go.
            value = int(body[1:].lstrip("_"), 8)
        else:
            value = int(body, 0)
    except ValueError:
        return None
    return sign * value


def _parse_float(text: str) -> float | None:
    body = text.lstrip("+-")
    is_hex = body[:2].lower() == "0x"
    try:
        value = float.fromhex(body.replace("_", "")) if is_hex else float(body)
    except ValueError:
        return None
    return -value if text.startswith("-") else value


def parse_number(text: str) -> tuple[int | float, int | None, float | None]:
    """Go's number constant rules: (ideal value, value as int, value as float).

    A constant is an int unless it is written like a float (``1.0``, ``1e3``); an integral
    float constant still fits an int parameter, and an int constant fits a float parameter.
    """
    if text.endswith("i"):
        raise LiteralError(f"complex constant {text} is not supported")
    as_int = _parse_int(text)
    as_float: float | None
    if as_int is not None:
        as_float = float(as_int)
    else:
        as_float = _parse_float(text)
        if as_float is None:
            raise LiteralError(f"illegal number syntax: {go_quote(text)}")
        if as_float.is_integer():
            as_int = int(as_float)
    if as_int is not None and not _INT64_MIN <= as_int <= _INT64_MAX:
        as_int = None
    is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and "p" not in text.lower()
    if as_float is not None and not is_hex_int and any(c in text for c in ".eEpP"):
        return as_float, as_int, as_float
    if as_int is None:
        raise LiteralError(f"{text} overflows int")
    return as_int, as_int, as_float
