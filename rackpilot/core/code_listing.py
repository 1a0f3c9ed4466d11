"""A text body (template, recipe) as numbered lines with its problems under them, and the
excerpt around the problems that an error page shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rackpilot.core.forms import Problem

# Lines shown above and below a problem in an excerpt.
EXCERPT_CONTEXT = 2


@dataclass
class Marker:
    """A problem under its line: ``indent`` puts a caret under the column (tabs kept)."""

    problem: Problem
    indent: str


@dataclass
class Line:
    number: int
    text: str
    problems: list[Marker] = field(default_factory=list)


def numbered_lines(body: str, problems: Iterable[Problem] = ()) -> list[Line]:
    texts = body.split("\n")
    if len(texts) > 1 and texts[-1] == "":
        texts.pop()  # the final newline ends the last line; it does not start another
    lines = [Line(number, text) for number, text in enumerate(texts, start=1)]
    for problem in problems:
        # "unexpected EOF" and friends point one past the end: show them on the last line.
        line = lines[min(max(problem.line, 1), len(lines)) - 1]
        before = line.text[: max(problem.column - 1, 0)]
        indent = "".join(char if char == "\t" else " " for char in before)
        line.problems.append(Marker(problem, indent))
    return lines


def problem_excerpt(lines: list[Line]) -> list[Line | None]:
    """The lines around each problem; ``None`` where lines are left out."""
    keep: set[int] = set()
    for line in lines:
        if line.problems:
            keep.update(range(line.number - EXCERPT_CONTEXT, line.number + EXCERPT_CONTEXT + 1))
    excerpt: list[Line | None] = []
    for line in lines:
        if line.number in keep:
            if excerpt and excerpt[-1] is not None and excerpt[-1].number != line.number - 1:
                excerpt.append(None)
            excerpt.append(line)
    return excerpt
