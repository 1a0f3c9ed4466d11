"""A Go ``text/template`` engine in pure Python, for Tinkerbell workflow templates.

Templates render as Go renders them: Go's template language with ``missingkey=error``, Go's
builtins and Sprig's hermetic functions (a subset); a caller adds its own functions, as
Tinkerbell adds ``formatPartition`` and friends (tinkerbell/template_functions.py)::

    render('{{ formatPartition (index .Hardware.Disks 0) 1 }}', data, funcs=TINKERBELL)

Every parse and execution error is a ``TemplateError`` carrying the line and column of the
offending node. ``Template.render_with_origins`` also says which source position each output
line came from, so that problems found in the output can be reported in the template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from .builtins import builtin_functions
from .callspec import FuncSpec, spec_for
from .errors import TemplateError
from .execute import Executor
from .functions import sprig_functions
from .nodes import ListNode
from .origins import OriginExecutor
from .parser import parse as _parse_source

__all__ = ["Template", "TemplateError", "default_function_names", "parse", "render"]

# Go looks up the template's own functions before its builtins, so Sprig's "slice" replaces the
# builtin one (lists only, Sprig's bounds rules), as it does in Tinkerbell.
_DEFAULT_FUNCS: dict[str, FuncSpec] = {**builtin_functions(), **sprig_functions()}


def default_function_names() -> frozenset[str]:
    return frozenset(_DEFAULT_FUNCS)


@functools.lru_cache(maxsize=256)
def _parse_cached(source: str, name: str, names: frozenset[str]) -> Mapping[str, ListNode]:
    return _parse_source(source, name, names)


class Template:
    """A parsed template, ready to render against any number of data values."""

    def __init__(
        self,
        source: str,
        *,
        name: str = "template",
        funcs: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self._funcs = dict(_DEFAULT_FUNCS)
        for func_name, fn in (funcs or {}).items():
            self._funcs[func_name] = spec_for(fn)
        self._templates = _parse_cached(source, name, frozenset(self._funcs))

    @property
    def template_names(self) -> frozenset[str]:
        """The main template plus every ``define``/``block`` in the source."""
        return frozenset(self._templates)

    def render(self, data: object) -> str:
        return Executor(self.name, self._templates, self._funcs).execute(data)

    def render_with_origins(self, data: object) -> tuple[str, list[tuple[int, int]]]:
        """Render and say where each output line came from.

        ``origins[i]`` is the 1-based (line, column) in the source of output line ``i + 1``:
        the first character of the text that starts it, or the ``{{`` of the action whose
        value starts it. There is one origin per line, the one after a final newline included
        (``len(origins) == text.count("\\n") + 1``).
        """
        return OriginExecutor(self.name, self._templates, self._funcs).execute_with_origins(data)


def parse(
    source: str,
    *,
    name: str = "template",
    funcs: Mapping[str, Callable[..., Any]] | None = None,
) -> Template:
    """Parse (and so validate) a template without rendering it."""
    return Template(source, name=name, funcs=funcs)


def render(
    source: str,
    data: Mapping[str, Any] | object,
    *,
    name: str = "template",
    funcs: Mapping[str, Callable[..., Any]] | None = None,
) -> str:
    """Render a Go template. Raises ``TemplateError`` with the position of any problem."""
    return Template(source, name=name, funcs=funcs).render(data)
