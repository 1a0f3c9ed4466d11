"""Sprig's string functions (Go's strings package, Masterminds/goutils, huandu/xstrings).

Go strings are byte strings: ``trunc``, ``substr``, ``abbrev`` and ``wrap`` count and cut
bytes, and ``nospace``/``initials`` even walk bytes one at a time, re-encoding each byte of a
multi-byte character as a rune of its own. Those quirks are kept, byte for byte (see
gotypes.to_bytes for how non-UTF-8 results are carried).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from . import gounicode as uni
from .errors import GoFuncError
from .gotypes import (
    StringMap,
    StringSlice,
    byte_len,
    byte_slice,
    from_bytes,
    latin1_runes,
    strslice,
    strval,
    to_bytes,
)
from .printf import go_quote
from .sprig_casing import camelcase, kebabcase, snakecase
from .values import format_value

_RANDOM = random.SystemRandom()


def hello() -> str:
    return "Hello!"


def upper(s: str) -> str:
    return uni.to_upper(s)


def lower(s: str) -> str:
    return uni.to_lower(s)


def _is_title_separator(char: str) -> bool:
    # strings.Title's word boundaries: ASCII letters, digits and "_" continue a word; other
    # ASCII characters end one; beyond ASCII, letters and digits continue and spaces end.
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if uni.is_letter(char) or uni.is_digit(char):
        return False
    return uni.is_space(char)


def title(s: str) -> str:
    out: list[str] = []
    previous = " "
    for char in s:
        out.append(uni.title_rune(char) if _is_title_separator(previous) else char)
        previous = char
    return "".join(out)


def untitle(s: str) -> str:
    out: list[str] = []
    at_word_start = True
    for char in s:
        if uni.is_space(char):
            at_word_start = True
            out.append(char)
        elif at_word_start:
            out.append(uni.lower_rune(char))
            at_word_start = False
        else:
            out.append(char)
    return "".join(out)


def swapcase(s: str) -> str:
    out: list[str] = []
    after_space = True
    for char in s:
        if uni.is_upper(char) or uni.is_title(char):
            out.append(uni.lower_rune(char))
            after_space = False
        elif uni.is_lower(char):
            out.append(uni.title_rune(char) if after_space else uni.upper_rune(char))
            after_space = False
        else:
            out.append(char)
            after_space = uni.is_space(char)
    return "".join(out)


def trim(s: str) -> str:
    start, end = 0, len(s)
    while start < end and uni.is_space(s[start]):
        start += 1
    while end > start and uni.is_space(s[end - 1]):
        end -= 1
    return s[start:end]


def trim_all(cutset: str, s: str) -> str:
    return s.strip(cutset) if cutset else s


def trim_prefix(prefix: str, s: str) -> str:
    return s.removeprefix(prefix)


def trim_suffix(suffix: str, s: str) -> str:
    return s.removesuffix(suffix)


def contains(substr: str, s: str) -> bool:
    return substr in s


def has_prefix(prefix: str, s: str) -> bool:
    return s.startswith(prefix)


def has_suffix(suffix: str, s: str) -> bool:
    return s.endswith(suffix)


def replace(old: str, new: str, src: str) -> str:
    return src.replace(old, new)


def repeat(count: int, s: str) -> str:
    if count < 0:
        raise GoFuncError("strings: negative Repeat count")
    return s * count


def nospace(s: str) -> str:
    # goutils walks bytes; a byte that is not a space is written back as a rune of its own,
    # so multi-byte characters are mangled unless nothing at all was deleted.
    data = to_bytes(s)
    kept = [byte for byte in data if not uni.is_space(chr(byte))]
    if len(kept) == len(data):
        return s
    return latin1_runes(bytes(kept))


def initials(s: str) -> str:
    out: list[str] = []
    after_gap = True
    for byte in to_bytes(s):
        char = chr(byte)
        if uni.is_space(char):
            after_gap = True
        elif after_gap:
            out.append(char)
            after_gap = False
    return "".join(out)


def shuffle(s: str) -> str:
    runes = list(s)
    _RANDOM.shuffle(runes)
    return "".join(runes)


def trunc(count: int, s: str) -> str:
    length = byte_len(s)
    if count < 0 and length + count > 0:
        return byte_slice(s, length + count)
    if count >= 0 and length > count:
        return byte_slice(s, 0, count)
    return s


def substr(start: int, end: int, s: str) -> str:
    data = to_bytes(s)
    if start < 0:
        if end < 0 or end > len(data):
            raise GoFuncError(f"runtime error: slice bounds out of range [:{end}]")
        return from_bytes(data[:end])
    if end < 0 or end > len(data):
        if start > len(data):
            raise GoFuncError(f"runtime error: slice bounds out of range [{start}:{len(data)}]")
        return from_bytes(data[start:])
    if start > end:
        raise GoFuncError(f"runtime error: slice bounds out of range [{start}:{end}]")
    return from_bytes(data[start:end])


def _abbreviate_full(data: bytes, offset: int, width: int) -> bytes:
    if not data:
        return b""
    if width < 4:
        raise ValueError("minimum abbreviation width is 4")
    if len(data) <= width:
        return data
    offset = min(offset, len(data))
    if len(data) - offset < width - 3:
        offset = len(data) - (width - 3)
    if offset <= 4:
        return data[: width - 3] + b"..."
    if width < 7:
        raise ValueError("minimum abbreviation width with offset is 7")
    if offset + width - 3 < len(data):
        return b"..." + _abbreviate_full(data[offset:], 0, width - 3)
    return b"..." + data[len(data) - (width - 3) :]


def abbrev(width: int, s: str) -> str:
    if width < 4:
        return s
    return from_bytes(_abbreviate_full(to_bytes(s), 0, width))


def abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7):
        return s
    try:
        return from_bytes(_abbreviate_full(to_bytes(s), left, right))
    except ValueError:
        return ""


def _wrap_custom(text: str, length: int, newline: str, long_words: bool) -> str:
    data = to_bytes(text)
    if not data:
        return ""
    sep = to_bytes(newline or "\n")
    length = max(length, 1)
    offset = 0
    out = bytearray()
    while len(data) - offset > length:
        if data[offset] == 0x20:
            offset += 1
            continue
        space = data.rfind(b" ", offset, length + offset + 1)
        if space >= offset:
            out += data[offset:space] + sep
            offset = space + 1
        elif long_words:
            out += data[offset : offset + length] + sep
            offset += length
        else:
            space = data.find(b" ", length + offset)
            if space < 0:
                out += data[offset:]
                offset = len(data)
            else:
                out += data[offset:space] + sep
                offset = space + 1
    out += data[offset:]
    return from_bytes(bytes(out))


def wrap(length: int, s: str) -> str:
    return _wrap_custom(s, length, "", False)


def wrap_with(length: int, sep: str, s: str) -> str:
    return _wrap_custom(s, length, sep, True)


def quote(*values: object) -> str:
    return " ".join(go_quote(strval(value)) for value in values if value is not None)


def squote(*values: object) -> str:
    return " ".join(f"'{format_value(value)}'" for value in values if value is not None)


def cat(*values: object) -> str:
    return " ".join(format_value(value) for value in values if value is not None)


def indent(spaces: int, s: str) -> str:
    if spaces < 0:
        raise GoFuncError("strings: negative Repeat count")
    pad = " " * spaces
    return pad + s.replace("\n", "\n" + pad)


def nindent(spaces: int, s: str) -> str:
    return "\n" + indent(spaces, s)


def plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def _split(s: str, sep: str, limit: int = -1) -> list[str]:
    """strings.SplitN: limit < 0 splits everywhere, 0 gives nothing, n gives at most n parts."""
    if limit == 0:
        return []
    if sep == "":
        runes = list(s)
        if 0 < limit < len(runes):
            return [*runes[: limit - 1], "".join(runes[limit - 1 :])]
        return runes
    return s.split(sep, limit - 1 if limit > 0 else -1)


def split(sep: str, s: str) -> StringMap:
    return StringMap((f"_{index}", part) for index, part in enumerate(_split(s, sep)))


def splitn(sep: str, count: int, s: str) -> StringMap:
    return StringMap((f"_{index}", part) for index, part in enumerate(_split(s, sep, count)))


def split_list(sep: str, s: str) -> StringSlice:
    return StringSlice(_split(s, sep))


def join(sep: str, values: object) -> str:
    return sep.join(strslice(values))


def to_string(value: object) -> str:
    return strval(value)


def to_strings(value: object) -> StringSlice:
    return strslice(value)


def sort_alpha(values: object) -> StringSlice:
    if isinstance(values, list | tuple):
        return StringSlice(sorted(strslice(values), key=to_bytes))
    return StringSlice([strval(values)])


STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "hello": hello,
    "abbrev": abbrev,
    "abbrevboth": abbrevboth,
    "trunc": trunc,
    "trim": trim,
    "upper": upper,
    "lower": lower,
    "title": title,
    "untitle": untitle,
    "substr": substr,
    "repeat": repeat,
    "trimall": trim_all,
    "trimAll": trim_all,
    "trimSuffix": trim_suffix,
    "trimPrefix": trim_prefix,
    "nospace": nospace,
    "initials": initials,
    "swapcase": swapcase,
    "shuffle": shuffle,
    "snakecase": snakecase,
    "camelcase": camelcase,
    "kebabcase": kebabcase,
    "wrap": wrap,
    "wrapWith": wrap_with,
    "contains": contains,
    "hasPrefix": has_prefix,
    "hasSuffix": has_suffix,
    "quote": quote,
    "squote": squote,
    "cat": cat,
    "indent": indent,
    "nindent": nindent,
    "replace": replace,
    "plural": plural,
    "toString": to_string,
    "split": split,
    "splitList": split_list,
    "splitn": splitn,
    "toStrings": to_strings,
    "join": join,
    "sortAlpha": sort_alpha,
}
