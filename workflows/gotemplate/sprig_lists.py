"""Sprig's list functions.

Sprig reaches lists through reflection, so every kind of Go slice works ([]string from
``splitList`` as well as ``list``'s []interface {}), and asking for the first item of nil or
of a string fails. The ``must`` variants return that failure as an error while the plain
ones panic; either way the template stops, only the message differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import GoFuncError
from .gotypes import IntSlice, NilSlice, SliceOfSlices, to_int64
from .values import go_type_name


def reflect_kind(value: object) -> str:
    if value is None:
        # reflect.TypeOf(nil).Kind() dereferences a nil Type.
        raise GoFuncError("runtime error: invalid memory address or nil pointer dereference")
    if isinstance(value, list | tuple):
        return "slice"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return go_type_name(value)
    if isinstance(value, float):
        return "float64"
    return "struct" if not callable(value) else "func"


def _items(value: object, message: str) -> Sequence[Any]:
    kind = reflect_kind(value)
    if kind != "slice":
        raise GoFuncError(message.format(kind=kind))
    return value  # type: ignore[return-value]


def deep_equal(a: object, b: object) -> bool:
    """reflect.DeepEqual for template values: same Go type and deeply equal contents."""
    if go_type_name(a) != go_type_name(b):
        return False
    if getattr(a, "IS_NIL", False) != getattr(b, "IS_NIL", False):
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(key in b and deep_equal(a[key], b[key]) for key in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    try:
        return bool(a == b)
    except Exception:
        return False


def list_(*values: object) -> list[Any]:
    return list(values)


def must_push(values: object, item: object) -> list[Any]:
    return [*_items(values, "Cannot push on type {kind}"), item]


def must_prepend(values: object, item: object) -> list[Any]:
    return [item, *_items(values, "Cannot prepend on type {kind}")]


def must_chunk(size: int, values: object) -> SliceOfSlices:
    items = _items(values, "Cannot chunk type {kind}")
    if size <= 0:
        # Go computes a negative or overflowing chunk count here and make() panics.
        raise GoFuncError("runtime error: makeslice: len out of range")
    count = math.floor((len(items) - 1) / size) + 1
    return SliceOfSlices(
        list(items[start : start + size]) for start in range(0, count * size, size)
    )


def must_last(values: object) -> object:
    items = _items(values, "Cannot find last on type {kind}")
    return items[-1] if items else None


def must_first(values: object) -> object:
    items = _items(values, "Cannot find first on type {kind}")
    return items[0] if items else None


def must_rest(values: object) -> list[Any]:
    items = _items(values, "Cannot find rest on type {kind}")
    return list(items[1:]) if items else NilSlice()


def must_initial(values: object) -> list[Any]:
    items = _items(values, "Cannot find initial on type {kind}")
    return list(items[:-1]) if items else NilSlice()


def must_reverse(values: object) -> list[Any]:
    return list(reversed(_items(values, "Cannot find reverse on type {kind}")))


def is_empty(value: object) -> bool:
    """Sprig's empty: the zero value of its type (structs are never empty)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float | complex):
        return value == 0
    if isinstance(value, str | bytes | list | tuple | Mapping):
        return len(value) == 0
    return False


def must_compact(values: object) -> list[Any]:
    return [item for item in _items(values, "Cannot compact on type {kind}") if not is_empty(item)]


def _in_list(haystack: Sequence[Any], needle: object) -> bool:
    return any(deep_equal(needle, item) for item in haystack)


def must_uniq(values: object) -> list[Any]:
    unique: list[Any] = []
    for item in _items(values, "Cannot find uniq on type {kind}"):
        if not _in_list(unique, item):
            unique.append(item)
    return unique


def must_without(values: object, *omit: object) -> list[Any]:
    items = _items(values, "Cannot find without on type {kind}")
    return [item for item in items if not _in_list(omit, item)]


def must_has(needle: object, haystack: object) -> bool:
    if haystack is None:
        return False
    return _in_list(_items(haystack, "Cannot find has on type {kind}"), needle)


def must_slice(values: object, *indices: object) -> object:
    items = _items(values, "list should be type of slice or array but {kind}")
    if not items:
        return None
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) >= 2 else len(items)
    if not 0 <= start <= end <= len(items):
        raise GoFuncError("reflect.Value.Slice: slice index out of bounds")
    part = items[start:end]
    # reflect's Slice keeps the slice's own type ([]string stays []string).
    return type(items)(part) if isinstance(items, list) else list(part)


def concat(*lists: object) -> list[Any]:
    result: list[Any] = NilSlice()
    for values in lists:
        kind = reflect_kind(values)
        if kind != "slice":
            raise GoFuncError(f"Cannot concat type {kind} as list")
        if values:
            result = [*result, *values]  # type: ignore[misc]
    return result


def until_step(start: int, stop: int, step: int) -> IntSlice:
    if stop < start:
        return IntSlice(range(start, stop, step)) if step < 0 else IntSlice()
    return IntSlice(range(start, stop, step)) if step > 0 else IntSlice()


def until(count: int) -> IntSlice:
    return until_step(0, count, -1 if count < 0 else 1)


LIST_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "list": list_,
    "tuple": list_,
    "append": must_push,
    "push": must_push,
    "mustAppend": must_push,
    "mustPush": must_push,
    "prepend": must_prepend,
    "mustPrepend": must_prepend,
    "first": must_first,
    "mustFirst": must_first,
    "rest": must_rest,
    "mustRest": must_rest,
    "last": must_last,
    "mustLast": must_last,
    "initial": must_initial,
    "mustInitial": must_initial,
    "reverse": must_reverse,
    "mustReverse": must_reverse,
    "uniq": must_uniq,
    "mustUniq": must_uniq,
    "without": must_without,
    "mustWithout": must_without,
    "has": must_has,
    "mustHas": must_has,
    "slice": must_slice,
    "mustSlice": must_slice,
    "concat": concat,
    "chunk": must_chunk,
    "mustChunk": must_chunk,
    "compact": must_compact,
    "mustCompact": must_compact,
    "until": until,
    "untilStep": until_step,
}
