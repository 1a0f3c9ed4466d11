"""Sprig's encodings: base64/base32, checksums and JSON, byte for byte as Go writes them.

Decoding errors are part of the output (``b64dec`` returns Go's error text), so the decoders
follow encoding/base64's and encoding/base32's own loops to report the same byte offsets.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from .errors import GoFuncError
from .gotypes import from_bytes, to_bytes
from .values import format_json_float, format_value, go_type_name

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_MAP = {ord(char): index for index, char in enumerate(_B64)}
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_MAP = {ord(char): index for index, char in enumerate(_B32)}


class CorruptInputError(Exception):
    def __init__(self, offset: int, name: str) -> None:
        super().__init__(f"illegal {name} data at input byte {offset}")


def _b64_quantum(src: bytes, si: int, out: bytearray) -> tuple[int, bool]:
    """encoding/base64's decodeQuantum; returns the next index and whether input ended."""
    values = [0, 0, 0, 0]
    length = 4
    j = 0
    while j < 4:
        if si == len(src):
            if j == 0:
                return si, True
            raise CorruptInputError(si - j, "base64")
        char = src[si]
        si += 1
        if char in _B64_MAP:
            values[j] = _B64_MAP[char]
            j += 1
            continue
        if char in (0x0A, 0x0D):
            continue
        if char != 0x3D:
            raise CorruptInputError(si - 1, "base64")
        if j in (0, 1):
            raise CorruptInputError(si - 1, "base64")
        if j == 2:
            while si < len(src) and src[si] in (0x0A, 0x0D):
                si += 1
            if si == len(src):
                raise CorruptInputError(len(src), "base64")
            if src[si] != 0x3D:
                raise CorruptInputError(si - 1, "base64")
            si += 1
        while si < len(src) and src[si] in (0x0A, 0x0D):
            si += 1
        trailing = si < len(src)
        length = j
        _b64_emit(values, length, out)
        if trailing:
            raise CorruptInputError(si, "base64")
        return si, True
    _b64_emit(values, length, out)
    return si, False


def _b64_emit(values: list[int], length: int, out: bytearray) -> None:
    number = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
    out += number.to_bytes(3, "big")[: length - 1]


def b64_decode_bytes(data: bytes) -> bytes:
    out = bytearray()
    si = 0
    while si < len(data):
        si, done = _b64_quantum(data, si, out)
        if done:
            break
    return bytes(out)


def b64enc(s: str) -> str:
    return base64.b64encode(to_bytes(s)).decode("ascii")


def b64dec(s: str) -> str:
    try:
        return from_bytes(b64_decode_bytes(to_bytes(s)))
    except CorruptInputError as error:
        return str(error)


def b32enc(s: str) -> str:
    return base64.b32encode(to_bytes(s)).decode("ascii")


def _b32_decode(raw: bytes) -> bytes:
    src = raw.replace(b"\r", b"").replace(b"\n", b"")
    total = len(src)
    out = bytearray()
    pos = 0
    end = False
    while pos < total and not end:
        values = [0] * 8
        length = 8
        j = 0
        while j < 8:
            if pos == total:
                raise CorruptInputError(total - (total - pos) - j, "base32")
            char = src[pos]
            pos += 1
            remaining = total - pos
            if char == 0x3D and j >= 2 and remaining < 8:
                if remaining + j < 7:
                    raise CorruptInputError(total, "base32")
                for k in range(7 - j):
                    if remaining > k and src[pos + k] != 0x3D:
                        raise CorruptInputError(total - remaining + k - 1, "base32")
                length, end = j, True
                if length in (1, 3, 6):
                    raise CorruptInputError(total - remaining - 1, "base32")
                break
            if char not in _B32_MAP:
                raise CorruptInputError(total - remaining - 1, "base32")
            values[j] = _B32_MAP[char]
            j += 1
        number = 0
        for value in values:
            number = number << 5 | value
        produced = {8: 5, 7: 4, 5: 3, 4: 2, 2: 1}.get(length, 0)
        out += number.to_bytes(5, "big")[:produced]
    return bytes(out)


def b32dec(s: str) -> str:
    try:
        return from_bytes(_b32_decode(to_bytes(s)))
    except CorruptInputError as error:
        return str(error)


def sha1sum(s: str) -> str:
    return hashlib.sha1(to_bytes(s)).hexdigest()


def sha256sum(s: str) -> str:
    return hashlib.sha256(to_bytes(s)).hexdigest()


def adler32sum(s: str) -> str:
    return str(zlib.adler32(to_bytes(s)))


# --- JSON ---------------------------------------------------------------------------------------

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\<>&\u2028\u2029\ud800-\udfff]')


def _json_string(text: str, escape_html: bool) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group(0)
        if char in '"\\':
            return "\\" + char
        if char in "\n\r\t":
            return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
        if char in _HTML_ESCAPES:
            return _HTML_ESCAPES[char] if escape_html else char
        if char in "\u2028\u2029":
            return f"\\u{ord(char):04x}"
        if "\ud800" <= char <= "\udfff":
            # Bytes that are not UTF-8 (carried as surrogates) become U+FFFD.
            return "\\ufffd"
        return f"\\u{ord(char):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def _encode(value: object, escape_html: bool, indent: str | None, depth: int) -> str:
    marshal = getattr(value, "marshal_json", None)
    if marshal is not None:
        return _json_string(marshal(), escape_html)
    if value is None or getattr(value, "IS_NIL", False):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise GoFuncError(f"json: unsupported value: {format_value(value)}")
        return format_json_float(value)
    if isinstance(value, str):
        return _json_string(value, escape_html)
    inner = None if indent is None else "\n" + indent * (depth + 1)
    closing = "" if indent is None else "\n" + indent * depth
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        colon = ":" if indent is None else ": "
        parts = [
            _json_string(str(key), escape_html)
            + colon
            + _encode(value[key], escape_html, indent, depth + 1)
            for key in sorted(value, key=lambda key: to_bytes(str(key)))
        ]
        if inner is None:
            return "{" + ",".join(parts) + "}"
        return "{" + inner + ("," + inner).join(parts) + closing + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [_encode(item, escape_html, indent, depth + 1) for item in value]
        if inner is None:
            return "[" + ",".join(items) + "]"
        return "[" + inner + ("," + inner).join(items) + closing + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return _encode(fields, escape_html, indent, depth)
    raise GoFuncError(f"json: unsupported type: {go_type_name(value)}")


def must_to_json(value: object) -> str:
    return _encode(value, True, None, 0)


def to_json(value: object) -> str:
    try:
        return must_to_json(value)
    except GoFuncError:
        return ""


def must_to_pretty_json(value: object) -> str:
    return _encode(value, True, "  ", 0)


def to_pretty_json(value: object) -> str:
    try:
        return must_to_pretty_json(value)
    except GoFuncError:
        return ""


def must_to_raw_json(value: object) -> str:
    return _encode(value, False, None, 0)


_SURROGATES = re.compile(r"[\ud800-\udfff]")


class _JSONDecode:
    """json.Unmarshal into interface{}: numbers are float64; a number out of range becomes
    nil and is reported after decoding finishes, as Go does."""

    def __init__(self) -> None:
        self.error: str | None = None

    def number(self, text: str) -> float | None:
        try:
            value = float(text)
        except OverflowError:  # pragma: no cover - float() saturates instead
            value = math.inf
        if math.isinf(value):
            self.error = self.error or (
                f"json: cannot unmarshal number {text} into Go value of type float64"
            )
            return None
        return value

    def fix(self, value: Any) -> Any:
        if isinstance(value, str):
            return _SURROGATES.sub("\ufffd", value) if _SURROGATES.search(value) else value
        if isinstance(value, list):
            return [self.fix(item) for item in value]
        if isinstance(value, dict):
            return {self.fix(key): self.fix(item) for key, item in value.items()}
        return value


def _constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _decode(text: str) -> tuple[Any, str | None]:
    decoder = _JSONDecode()
    try:
        value = json.loads(
            text,
            parse_float=decoder.number,
            parse_int=decoder.number,
            parse_constant=_constant,
        )
    except ValueError as error:
        if text.strip(" \t\r\n") == "":
            return None, "unexpected end of JSON input"
        return None, str(error)
    return decoder.fix(value), decoder.error


def from_json(text: str) -> object:
    return _decode(text)[0]


def must_from_json(text: str) -> object:
    value, error = _decode(text)
    if error:
        raise GoFuncError(error)
    return value


ENCODING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "b64enc": b64enc,
    "b64dec": b64dec,
    "b32enc": b32enc,
    "b32dec": b32dec,
    "sha1sum": sha1sum,
    "sha256sum": sha256sum,
    "adler32sum": adler32sum,
    "fromJson": from_json,
    "toJson": to_json,
    "toPrettyJson": to_pretty_json,
    "toRawJson": must_to_raw_json,
    "mustFromJson": must_from_json,
    "mustToJson": must_to_json,
    "mustToPrettyJson": must_to_pretty_json,
    "mustToRawJson": must_to_raw_json,
}
