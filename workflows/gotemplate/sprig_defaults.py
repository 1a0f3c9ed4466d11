"""Sprig's defaults, reflection and flow-control functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import GoFuncError
from .gotypes import kind_name
from .sprig_lists import deep_equal, is_empty
from .values import go_type_name


def default(fallback: object, *given: object) -> object:
    if not given or is_empty(given[0]):
        return fallback
    return given[0]


def empty(value: object) -> bool:
    return is_empty(value)


def coalesce(*values: object) -> object:
    return next((value for value in values if not is_empty(value)), None)


def all_(*values: object) -> bool:
    return all(not is_empty(value) for value in values)


def any_(*values: object) -> bool:
    return any(not is_empty(value) for value in values)


def ternary(if_true: object, if_false: object, condition: bool) -> object:
    return if_true if condition else if_false


def type_of(value: object) -> str:
    return go_type_name(value)


def type_is(target: str, value: object) -> bool:
    return target == go_type_name(value)


def type_is_like(target: str, value: object) -> bool:
    return go_type_name(value) in (target, "*" + target)


def kind_of(value: object) -> str:
    return kind_name(value)


def kind_is(target: str, value: object) -> bool:
    return target == kind_name(value)


def deep_equal_fn(a: object, b: object) -> bool:
    return deep_equal(a, b)


def fail(message: str) -> str:
    raise GoFuncError(message)


DEFAULT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": default,
    "empty": empty,
    "coalesce": coalesce,
    "all": all_,
    "any": any_,
    "ternary": ternary,
    "typeOf": type_of,
    "typeIs": type_is,
    "typeIsLike": type_is_like,
    "kindOf": kind_of,
    "kindIs": kind_is,
    "deepEqual": deep_equal_fn,
    "fail": fail,
}
