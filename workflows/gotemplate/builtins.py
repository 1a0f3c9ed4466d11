"""Go text/template's predefined functions.

``and``/``or`` are listed for parsing and arity, but the executor evaluates them itself
because they short-circuit.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .callspec import GO_TYPE_NAMES, FuncSpec, spec_for
from .errors import GoFuncError
from .printf import sprintf
from .values import format_value, go_type_name, is_true, sprint, sprintln

_BASIC = (bool, int, float, str, complex)


def _basic_kind(value: object) -> str | None:
    for kind in _BASIC:
        if isinstance(value, kind):
            return kind.__name__
    return None


def _index_arg(index: object, cap: int) -> int:
    if index is None:
        raise GoFuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise GoFuncError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise GoFuncError(f"index out of range: {index}")
    return index


def _sequence(item: object) -> Sequence[Any] | None:
    if isinstance(item, str):
        # Go indexes and slices strings by byte.
        return item.encode("utf-8", "surrogateescape")
    if isinstance(item, list | tuple | bytes | bytearray):
        return item
    return None


def go_index(item: object, *indexes: object) -> object:
    """``index x 1 2``: x[1][2], through slices and maps; a missing map key gives nil."""
    if item is None:
        raise GoFuncError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise GoFuncError("index of nil pointer")
        sequence = _sequence(item)
        if sequence is not None:
            position = _index_arg(index, len(sequence))
            if position == len(sequence):
                raise GoFuncError(f"index out of range: {position}")
            item = sequence[position]
        elif isinstance(item, Mapping):
            if index is None:
                raise GoFuncError("value is nil; should be of type string")
            try:
                item = item.get(index)
            except TypeError:
                raise GoFuncError(
                    f"value has type {go_type_name(index)}; should be string"
                ) from None
        else:
            raise GoFuncError(f"can't index item of type {go_type_name(item)}")
    return item


def go_slice(item: object, *indexes: object) -> object:
    """``slice x 1 2`` is x[1:2]; a third index caps a slice's capacity, as in Go."""
    if item is None:
        raise GoFuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise GoFuncError(f"too many slice indexes: {len(indexes)}")
    sequence = _sequence(item)
    if sequence is None:
        raise GoFuncError(f"can't slice item of type {go_type_name(item)}")
    if isinstance(item, str) and len(indexes) == 3:
        raise GoFuncError("cannot 3-index slice a string")
    bounds = [0, len(sequence), len(sequence)]
    for position, index in enumerate(indexes):
        bounds[position] = _index_arg(index, len(sequence))
    if bounds[0] > bounds[1]:
        raise GoFuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise GoFuncError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    part = sequence[bounds[0] : bounds[1]]
    if isinstance(item, str):
        return bytes(part).decode("utf-8", "replace")
    return part


def go_len(item: object) -> int:
    if item is None:
        raise GoFuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, list | tuple | Mapping | bytes | bytearray):
        return len(item)
    raise GoFuncError(f"len of type {go_type_name(item)}")


def go_not(arg: object) -> bool:
    return not is_true(arg)


def _short_circuit(arg0: object, *args: object) -> object:
    raise AssertionError("and/or are evaluated by the executor")


def _equal(left: object, right: object) -> bool:
    if left is None or right is None:
        return left is None and right is None
    left_kind, right_kind = _basic_kind(left), _basic_kind(right)
    if left_kind != right_kind:
        raise GoFuncError("incompatible types for comparison")
    if left_kind is None:
        for value in (left, right):
            if isinstance(value, list | dict | set | Mapping):
                raise GoFuncError(
                    f"non-comparable type {format_value(value)}: {go_type_name(value)}"
                )
    return left == right


def go_eq(arg1: object, *args: object) -> bool:
    """``eq a b c``: whether a equals any of the others. Mixing kinds (1 and "1") is an
    error; comparing with nil is simply false."""
    if not args:
        raise GoFuncError("missing argument for comparison")
    return any(_equal(arg1, other) for other in args)


def go_ne(arg1: object, arg2: object) -> bool:
    return not _equal(arg1, arg2)


def go_lt(arg1: object, arg2: object) -> bool:
    left_kind, right_kind = _basic_kind(arg1), _basic_kind(arg2)
    if left_kind is None or right_kind is None:
        raise GoFuncError("invalid type for comparison")
    if left_kind != right_kind:
        raise GoFuncError("incompatible types for comparison")
    if left_kind in ("bool", "complex"):
        raise GoFuncError("invalid type for comparison")
    return arg1 < arg2  # type: ignore[operator]


def go_le(arg1: object, arg2: object) -> bool:
    return go_lt(arg1, arg2) or _equal(arg1, arg2)


def go_gt(arg1: object, arg2: object) -> bool:
    return not go_le(arg1, arg2)


def go_ge(arg1: object, arg2: object) -> bool:
    return not go_lt(arg1, arg2)


def go_print(*args: object) -> str:
    return sprint(args)


def go_println(*args: object) -> str:
    return sprintln(args)


def go_printf(format: str, *args: object) -> str:
    return sprintf(format, args)


def _eval_args(args: Sequence[object]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    # Go prints a nil operand of these escapers as "<no value>", like an action would.
    return sprint(["<no value>" if arg is None else arg for arg in args])


def go_html(*args: object) -> str:
    text = _eval_args(args)
    table = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}
    return "".join(table.get(char, char) for char in text)


def go_js(*args: object) -> str:
    text = _eval_args(args)
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    out = []
    for char in text:
        if char in table:
            out.append(table[char])
        elif char < " " or (char > "\x7f" and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def go_urlquery(*args: object) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def go_call(fn: object, *args: object) -> object:
    """``call .Func a b``: call a function value held in the data."""
    return call_function("function", fn, *args)


def call_function(name: str, fn: object, *args: object) -> object:
    """What ``call`` does, with the callee named as it was written in the template."""
    if fn is None:
        raise GoFuncError("call of nil")
    if not callable(fn):
        raise GoFuncError(f"non-function {name} of type {go_type_name(fn)}")
    spec = spec_for(fn)
    required = len(spec.params) - spec.optional
    if spec.variadic is not None and len(args) < required:
        raise GoFuncError(
            f"wrong number of args for {name}: got {len(args)} want at least {required}"
        )
    if spec.variadic is None and not required <= len(args) <= len(spec.params):
        raise GoFuncError(
            f"wrong number of args for {name}: got {len(args)} want {len(spec.params)}"
        )
    for index, arg in enumerate(args):
        want = spec.param_type(index)
        if want is object or (isinstance(arg, want) and not (want is int and arg is True)):
            continue
        if want is float and isinstance(arg, int) and not isinstance(arg, bool):
            continue
        raise GoFuncError(
            f"arg {index}: value has type {go_type_name(arg)}; should be {GO_TYPE_NAMES[want]}"
        )
    return fn(*args)


def builtin_functions() -> dict[str, FuncSpec]:
    table: dict[str, Callable[..., Any]] = {
        "and": _short_circuit,
        "or": _short_circuit,
        "not": go_not,
        "len": go_len,
        "index": go_index,
        "slice": go_slice,
        "eq": go_eq,
        "ne": go_ne,
        "lt": go_lt,
        "le": go_le,
        "gt": go_gt,
        "ge": go_ge,
        "print": go_print,
        "printf": go_printf,
        "println": go_println,
        "html": go_html,
        "js": go_js,
        "urlquery": go_urlquery,
        "call": go_call,
    }
    specs = {name: spec_for(fn) for name, fn in table.items()}
    for name in ("and", "or"):
        base = specs[name]
        specs[name] = FuncSpec(
            fn=base.fn, params=base.params, variadic=base.variadic, short_circuit=True
        )
    return specs
