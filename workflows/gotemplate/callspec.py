"""How a template may call a Python function: its arity and the Go type of each parameter.

Go checks argument counts and types before calling a template function; the same checks are
derived here from Python signatures. A parameter annotated ``str``, ``int``, ``float`` or
``bool`` is checked like Go's ``string``, ``int``, ``float64`` and ``bool``; anything else
accepts any value (Go's ``interface{}``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_ANNOTATIONS: dict[object, type] = {
    str: str,
    "str": str,
    int: int,
    "int": int,
    float: float,
    "float": float,
    bool: bool,
    "bool": bool,
}
GO_TYPE_NAMES = {str: "string", int: "int", float: "float64", bool: "bool", object: "interface {}"}


@dataclass(frozen=True, slots=True)
class FuncSpec:
    fn: Callable[..., Any]
    params: tuple[type, ...]
    variadic: type | None
    optional: int = 0
    # Go's and/or evaluate their arguments lazily and return the deciding value.
    short_circuit: bool = False

    def param_type(self, index: int) -> type:
        if index < len(self.params):
            return self.params[index]
        return self.variadic or object

    def arity_error(self, name: str, count: int, explicit: int) -> str | None:
        """Go's message when ``count`` arguments (``explicit`` of them written, the rest
        piped in) do not fit; None when they do."""
        required = len(self.params) - self.optional
        if self.variadic is not None:
            if count < required:
                return f"wrong number of args for {name}: want at least {required} got {explicit}"
            return None
        if required <= count <= len(self.params):
            return None
        if self.optional:
            return (
                f"wrong number of args for {name}: "
                f"want {required} to {len(self.params)} got {count}"
            )
        return f"wrong number of args for {name}: want {len(self.params)} got {count}"


def _annotation_type(annotation: object) -> type:
    try:
        return _ANNOTATIONS.get(annotation, object)
    except TypeError:  # unhashable annotation objects
        return object


def _build_spec(fn: Callable[..., Any]) -> FuncSpec:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        # Some builtins hide their signature; let any arguments through.
        return FuncSpec(fn=fn, params=(), variadic=object)
    params: list[type] = []
    optional = 0
    variadic: type | None = None
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            params.append(_annotation_type(parameter.annotation))
            if parameter.default is not parameter.empty:
                optional += 1
        elif parameter.kind is parameter.VAR_POSITIONAL:
            variadic = _annotation_type(parameter.annotation)
    return FuncSpec(fn=fn, params=tuple(params), variadic=variadic, optional=optional)


@functools.lru_cache(maxsize=1024)
def _cached_spec(fn: Callable[..., Any]) -> FuncSpec:
    return _build_spec(fn)


def spec_for(fn: Callable[..., Any]) -> FuncSpec:
    if inspect.ismethod(fn):
        # Cache by the underlying function so the cache never keeps receivers alive.
        base = spec_for(fn.__func__)
        return FuncSpec(
            fn=fn, params=base.params[1:], variadic=base.variadic, optional=base.optional
        )
    try:
        return _cached_spec(fn)
    except TypeError:  # unhashable callables (e.g. methods of unhashable objects)
        return _build_spec(fn)
