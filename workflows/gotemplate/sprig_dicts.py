"""Sprig's dictionary functions, with imdario/mergo's merge rules.

Go declares most of these with ``map[string]interface {}`` parameters: a nil argument is a
nil map (readable, but ``set`` on it panics), and other maps (``split``'s map[string]string)
or non-maps are refused. ``set``/``unset``/``merge`` change the given map in place, as in Go.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from .errors import GoFuncError
from .gotypes import StringSlice, expect_map, strval
from .sprig_lists import is_empty
from .values import go_type_name


def _string_arg(value: object) -> str:
    if not isinstance(value, str):
        raise GoFuncError(f"wrong type for value; expected string; got {go_type_name(value)}")
    return value


def _mutable(mapping: Mapping[str, Any]) -> MutableMapping[str, Any]:
    if not isinstance(mapping, MutableMapping):
        raise GoFuncError("map is read-only")
    return mapping


def dict_(*pairs: object) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for index in range(0, len(pairs), 2):
        key = strval(pairs[index])
        result[key] = pairs[index + 1] if index + 1 < len(pairs) else ""
    return result


def get(mapping: object, key: str) -> object:
    return expect_map(mapping).get(key, "")


def set_(mapping: object, key: str, value: object) -> Mapping[str, Any]:
    target = expect_map(mapping)
    _mutable(target)[key] = value
    return target


def unset(mapping: object, key: str) -> Mapping[str, Any]:
    target = expect_map(mapping)
    _mutable(target).pop(key, None)
    return target


def has_key(mapping: object, key: str) -> bool:
    return key in expect_map(mapping)


def pluck(key: str, *mappings: object) -> list[Any]:
    found: list[Any] = []
    for mapping in mappings:
        source = expect_map(mapping)
        if key in source:
            found.append(source[key])
    return found


def keys(*mappings: object) -> StringSlice:
    # Go's map order is random; the keys come in the maps' own order here.
    return StringSlice(key for mapping in mappings for key in expect_map(mapping))


def pick(mapping: object, *names: object) -> dict[str, Any]:
    source = expect_map(mapping)
    wanted = [_string_arg(name) for name in names]
    return {name: source[name] for name in wanted if name in source}


def omit(mapping: object, *names: object) -> dict[str, Any]:
    source = expect_map(mapping)
    dropped = {_string_arg(name) for name in names}
    return {key: value for key, value in source.items() if key not in dropped}


def values(mapping: object) -> list[Any]:
    return list(expect_map(mapping).values())


def _merge_into(dst: MutableMapping[str, Any], src: Mapping[str, Any], overwrite: bool) -> None:
    """mergo's deepMerge of two map[string]interface {} values."""
    for key, item in list(src.items()):
        present = key in dst
        current = dst.get(key)
        if item is None:
            if overwrite:
                dst[key] = None
            continue
        if isinstance(item, Mapping) and isinstance(current, Mapping):
            if isinstance(current, MutableMapping):
                _merge_into(current, item, overwrite)
        elif isinstance(item, list | tuple):
            # mergo looks at the emptiness of the enclosing maps here, not of the values.
            if overwrite or is_empty(dst):
                dst[key] = item
            elif not present or current is None:
                dst[key] = type(item)()
        if present and not _empty_element(current) and isinstance(item, Mapping | list | tuple):
            continue
        if overwrite or not present or _empty_element(current):
            dst[key] = item


def _empty_element(value: object) -> bool:
    # Struct-like values (times, versions, certificates) are never empty to mergo.
    return is_empty(value)


def _merge(dst: object, sources: tuple[object, ...], overwrite: bool) -> Mapping[str, Any]:
    result = _mutable(expect_map(dst))
    for source in sources:
        _merge_into(result, expect_map(source), overwrite)
    return result


def merge(dst: object, *sources: object) -> Mapping[str, Any]:
    return _merge(dst, sources, False)


def merge_overwrite(dst: object, *sources: object) -> Mapping[str, Any]:
    return _merge(dst, sources, True)


def deep_copy(value: object) -> object:
    if value is None:
        # copystructure reflects on the value's type, and nil has none.
        raise GoFuncError("reflect: call of reflect.Value.Type on zero Value")
    return copy.deepcopy(value)


def dig(*args: object) -> object:
    if len(args) < 3:
        raise GoFuncError("dig needs at least three arguments")
    mapping = args[-1]
    default = args[-2]
    names = args[:-2]
    for name in names:
        if not isinstance(name, str):
            raise GoFuncError(
                f"interface conversion: interface {{}} is {go_type_name(name)}, not string"
            )
    for index, name in enumerate(names):
        if not isinstance(mapping, Mapping) or go_type_name(mapping) != "map[string]interface {}":
            raise GoFuncError(
                "interface conversion: interface {} is "
                f"{go_type_name(mapping)}, not map[string]interface {{}}"
            )
        if name not in mapping:
            return default
        if index == len(names) - 1:
            return mapping[name]
        mapping = mapping[name]
    return default


DICT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "dict": dict_,
    "get": get,
    "set": set_,
    "unset": unset,
    "hasKey": has_key,
    "pluck": pluck,
    "keys": keys,
    "pick": pick,
    "omit": omit,
    "merge": merge,
    "mergeOverwrite": merge_overwrite,
    "mustMerge": merge,
    "mustMergeOverwrite": merge_overwrite,
    "values": values,
    "deepCopy": deep_copy,
    "mustDeepCopy": deep_copy,
    "dig": dig,
}
