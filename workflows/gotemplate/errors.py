"""The one error type the engine raises, always positioned in the template source."""

from __future__ import annotations

import bisect
import re


class TemplateError(Exception):
    """A parse or execution error at a 1-based line and column of the template source.

    ``str()`` reads like Go's own messages without the ``template: `` prefix, e.g.
    ``ubuntu:12:7: map has no entry for key "foo"``, so operators can find the spot.
    """

    def __init__(self, message: str, *, name: str = "template", line: int = 0, column: int = 0):
        super().__init__(message)
        self.message = message
        self.name = name
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line:
            return f"{self.name}:{self.line}:{self.column}: {self.message}"
        return f"{self.name}: {self.message}"


class GoFuncError(Exception):
    """Raised by template functions; the executor reports it as ``error calling NAME: ...``."""


class SourceMap:
    """Turns character offsets into (line, column) pairs without rescanning the source."""

    def __init__(self, source: str) -> None:
        self._newlines = [match.start() for match in re.finditer("\n", source)]

    def locate(self, offset: int) -> tuple[int, int]:
        # Columns count characters, not bytes, so non-ASCII templates point at the right spot.
        index = bisect.bisect_left(self._newlines, offset)
        line_start = self._newlines[index - 1] + 1 if index else 0
        return index + 1, offset - line_start + 1
