"""Where each output line came from in the template source.

Rendered workflow YAML is validated after rendering, but a problem at rendered line 40 only
helps an operator at the template line that produced it: a ``{{- range }}`` repeats its body,
a false ``{{ if }}`` drops lines and ``{{ toYaml . }}`` inserts several. Recording lives in a
subclass of the executor so that plain ``render()`` pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .callspec import FuncSpec
from .execute import Executor
from .nodes import ActionNode, ListNode, TextNode

Position = tuple[int, int]


class OriginExecutor(Executor):
    """Renders like ``Executor`` and notes the source position that starts each output line.

    A line started by literal text maps to that text's first character; a line started by an
    action's value (all lines of a multi-line value) maps to the action's ``{{``.
    """

    def __init__(
        self, name: str, templates: Mapping[str, ListNode], funcs: Mapping[str, FuncSpec]
    ) -> None:
        super().__init__(name, templates, funcs)
        self.origins: list[Position] = []
        self._line_open = False
        # Where the next output line starts if nothing more is written: after a newline that
        # came from text, the source character after it; after an action's newline, the action.
        self._next_line = (1, 1)

    def execute_with_origins(self, data: object) -> tuple[str, list[Position]]:
        text = self.execute(data)
        if not self._line_open:
            # The line after a final newline (or an empty output) exists too: YAML errors
            # about the end of the stream point at it.
            self.origins.append(self._next_line if text else (1, 1))
        return text, self.origins

    def _walk_text(self, dot: object, node: TextNode) -> None:
        self.out.append(node.text)
        self._track(node.text, node.line, node.col, advance=True)

    def _walk_action(self, dot: object, node: ActionNode) -> None:
        mark = len(self.out)
        super()._walk_action(dot, node)
        for chunk in self.out[mark:]:
            self._track(chunk, node.line, node.col, advance=False)

    def _track(self, chunk: str, line: int, col: int, *, advance: bool) -> None:
        """Record the lines ``chunk`` starts; ``advance`` when it is source text at (line, col)."""
        start, size = 0, len(chunk)
        while True:
            if not self._line_open and start < size:
                self.origins.append((line, col))
                self._line_open = True
            newline = chunk.find("\n", start)
            if newline < 0:
                return
            start = newline + 1
            if advance:
                line, col = line + 1, 1
            self._line_open = False
            self._next_line = (line, col)
