"""A subset of Sprig's hermetic functions, the map Go templates commonly render with.

Argument order follows Sprig (``contains SUBSTR STR``, ``hasPrefix PREFIX STR``) so
``"x" | contains .y`` style pipelines read the same as in Go. Functions of a particular
dialect (Tinkerbell's ``formatPartition``...) are passed in by the caller (``funcs=``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from .callspec import FuncSpec, spec_for
from .errors import GoFuncError
from .printf import go_quote
from .values import format_value, go_type_name, is_true
from .yamlfuncs import to_json


def strval(value: object) -> str:
    """Sprig's string conversion: strings as they are, everything else as Go's %v."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return format_value(value)


def _strslice(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [strval(item) for item in value if item is not None]
    if value is None:
        return []
    return [strval(value)]


def _to_int(value: object) -> int:
    """Sprig's lenient int conversion (spf13/cast): unparsable values become 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            text = text.split(".")[0]
        try:
            return int(text, 0)
        except ValueError:
            return 0
    return 0


# --- Sprig: strings -------------------------------------------------------------------------


def sprig_lower(s: str) -> str:
    return s.lower()


def sprig_upper(s: str) -> str:
    return s.upper()


def sprig_title(s: str) -> str:
    # strings.Title upper-cases the first letter of each word and leaves the rest alone.
    out: list[str] = []
    previous = " "
    for char in s:
        boundary = not (previous.isalnum() or previous == "_")
        out.append(char.upper() if boundary else char)
        previous = char
    return "".join(out)


def sprig_trim(s: str) -> str:
    return s.strip()


def sprig_trim_all(cutset: str, s: str) -> str:
    return s.strip(cutset)


def sprig_trim_prefix(prefix: str, s: str) -> str:
    return s.removeprefix(prefix)


def sprig_trim_suffix(suffix: str, s: str) -> str:
    return s.removesuffix(suffix)


def sprig_contains(substr: str, s: str) -> bool:
    return substr in s


def sprig_has_prefix(prefix: str, s: str) -> bool:
    return s.startswith(prefix)


def sprig_has_suffix(suffix: str, s: str) -> bool:
    return s.endswith(suffix)


def sprig_replace(old: str, new: str, src: str) -> str:
    return src.replace(old, new)


def sprig_repeat(count: int, s: str) -> str:
    if count < 0:
        raise GoFuncError("strings: negative Repeat count")
    return s * count


def sprig_nospace(s: str) -> str:
    return "".join(s.split())


def sprig_trunc(length: int, s: str) -> str:
    if length < 0:
        return s[length:] if len(s) + length > 0 else s
    return s[:length]


def sprig_quote(*values: object) -> str:
    return " ".join(go_quote(strval(value)) for value in values if value is not None)


def sprig_squote(*values: object) -> str:
    return " ".join(f"'{strval(value)}'" for value in values if value is not None)


def sprig_cat(*values: object) -> str:
    return " ".join(format_value(value) for value in values if value is not None)


def sprig_indent(spaces: int, s: str) -> str:
    pad = " " * spaces
    return pad + s.replace("\n", "\n" + pad)


def sprig_nindent(spaces: int, s: str) -> str:
    return "\n" + sprig_indent(spaces, s)


def _go_split(sep: str, s: str) -> list[str]:
    # strings.Split with an empty separator splits into characters.
    return list(s) if sep == "" else s.split(sep)


def sprig_split(sep: str, s: str) -> dict[str, str]:
    """Sprig's split returns a map with keys _0, _1, ... (use splitList for a list)."""
    return {f"_{index}": part for index, part in enumerate(_go_split(sep, s))}


def sprig_split_list(sep: str, s: str) -> list[str]:
    return _go_split(sep, s)


def sprig_join(sep: str, values: object) -> str:
    return sep.join(_strslice(values))


def sprig_to_string(value: object) -> str:
    return strval(value)


def sprig_b64enc(s: str) -> str:
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def sprig_b64dec(s: str) -> str:
    # Sprig returns the decoding error's text instead of failing the template.
    try:
        return base64.b64decode(s, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        alphabet = re.compile(r"[A-Za-z0-9+/=]")
        bad = next((i for i, char in enumerate(s) if not alphabet.match(char)), len(s))
        return f"illegal base64 data at input byte {bad}"


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise GoFuncError(f"error parsing regexp: {error}") from None


def sprig_regex_match(regex: str, s: str) -> bool:
    try:
        return re.search(regex, s) is not None
    except re.error:
        return False


def sprig_regex_find(regex: str, s: str) -> str:
    match = _compile(regex).search(s)
    return match.group(0) if match else ""


def _expand_go_template(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}; $$ is a literal dollar."""

    def group(ref: re.Match[str]) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            key: int | str = int(name) if name.isdigit() else name
            return match.group(key) or ""
        except (IndexError, re.error):
            return ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", group, template)


def sprig_regex_replace_all(regex: str, s: str, repl: str) -> str:
    return _compile(regex).sub(lambda match: _expand_go_template(repl, match), s)


def sprig_sha256sum(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


# --- Sprig: defaults, lists, dicts, numbers -------------------------------------------------


def sprig_default(default: object, *given: object) -> object:
    if not given or not is_true(given[0]):
        return default
    return given[0]


def sprig_empty(value: object) -> bool:
    return not is_true(value)


def sprig_coalesce(*values: object) -> object:
    return next((value for value in values if is_true(value)), None)


def sprig_ternary(if_true: object, if_false: object, condition: bool) -> object:
    return if_true if condition else if_false


def sprig_list(*values: object) -> list[object]:
    return list(values)


def sprig_dict(*pairs: object) -> dict[str, object]:
    result: dict[str, object] = {}
    for index in range(0, len(pairs), 2):
        key = strval(pairs[index])
        result[key] = pairs[index + 1] if index + 1 < len(pairs) else ""
    return result


def sprig_get(mapping: object, key: str) -> object:
    if not isinstance(mapping, Mapping):
        raise GoFuncError("wrong type for value; expected map[string]interface {}")
    return mapping.get(key, "")


def sprig_has_key(mapping: object, key: str) -> bool:
    if not isinstance(mapping, Mapping):
        raise GoFuncError("wrong type for value; expected map[string]interface {}")
    return key in mapping


def _list_end(values: object, name: str, position: int) -> object:
    if isinstance(values, list | tuple):
        return values[position] if values else None
    raise GoFuncError(f"Cannot find {name} on type {go_type_name(values)}")


def sprig_first(values: object) -> object:
    return _list_end(values, "first", 0)


def sprig_last(values: object) -> object:
    return _list_end(values, "last", -1)


def sprig_add(*values: object) -> int:
    return sum(_to_int(value) for value in values)


def sprig_add1(value: object) -> int:
    return _to_int(value) + 1


def sprig_sub(a: object, b: object) -> int:
    return _to_int(a) - _to_int(b)


def sprig_mul(a: object, *values: object) -> int:
    product = _to_int(a)
    for value in values:
        product *= _to_int(value)
    return product


def _go_division(a: object, b: object) -> tuple[int, int]:
    dividend, divisor = _to_int(a), _to_int(b)
    if divisor == 0:
        raise GoFuncError("runtime error: integer divide by zero")
    # Go truncates toward zero; Python floors.
    quotient = abs(dividend) // abs(divisor) * (1 if (dividend >= 0) == (divisor > 0) else -1)
    return quotient, dividend - quotient * divisor


def sprig_div(a: object, b: object) -> int:
    return _go_division(a, b)[0]


def sprig_mod(a: object, b: object) -> int:
    return _go_division(a, b)[1]


def sprig_int(value: object) -> int:
    return _to_int(value)


def sprig_atoi(s: str) -> int:
    try:
        return int(s, 10)
    except ValueError:
        return 0


def sprig_functions() -> dict[str, FuncSpec]:
    table: dict[str, Callable[..., Any]] = {
        "toJson": to_json,
        "lower": sprig_lower,
        "upper": sprig_upper,
        "title": sprig_title,
        "trim": sprig_trim,
        "trimAll": sprig_trim_all,
        "trimPrefix": sprig_trim_prefix,
        "trimSuffix": sprig_trim_suffix,
        "contains": sprig_contains,
        "hasPrefix": sprig_has_prefix,
        "hasSuffix": sprig_has_suffix,
        "replace": sprig_replace,
        "repeat": sprig_repeat,
        "nospace": sprig_nospace,
        "trunc": sprig_trunc,
        "quote": sprig_quote,
        "squote": sprig_squote,
        "cat": sprig_cat,
        "indent": sprig_indent,
        "nindent": sprig_nindent,
        "split": sprig_split,
        "splitList": sprig_split_list,
        "join": sprig_join,
        "toString": sprig_to_string,
        "b64enc": sprig_b64enc,
        "b64dec": sprig_b64dec,
        "regexMatch": sprig_regex_match,
        "regexFind": sprig_regex_find,
        "regexReplaceAll": sprig_regex_replace_all,
        "sha256sum": sprig_sha256sum,
        "default": sprig_default,
        "empty": sprig_empty,
        "coalesce": sprig_coalesce,
        "ternary": sprig_ternary,
        "list": sprig_list,
        "dict": sprig_dict,
        "get": sprig_get,
        "hasKey": sprig_has_key,
        "first": sprig_first,
        "last": sprig_last,
        "add": sprig_add,
        "add1": sprig_add1,
        "sub": sprig_sub,
        "mul": sprig_mul,
        "div": sprig_div,
        "mod": sprig_mod,
        "int": sprig_int,
        "atoi": sprig_atoi,
    }
    return {name: spec_for(fn) for name, fn in table.items()}
