"""Templates → workflows: rendering and validation.

What a template sees for a machine is Tinkerbell's data (tinkerbell/template_data.py, plugged
in through ``register_template_data``). Problems in the rendered YAML are reported at the
template line they come from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflows.gotemplate import Template as GoTemplate
from workflows.gotemplate import TemplateError
from workflows.spec import SpecError, SpecProblem, WorkflowSpec, parse_workflow

if TYPE_CHECKING:
    from inventory.models import Machine


@dataclass
class TemplateProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class TemplateRenderError(Exception):
    def __init__(self, problems: list[TemplateProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# Tinkerbell refuses a rendered template larger than this (a guard against a template that
# expands into gigabytes); Rackpilot refuses the same ones, with Tinkerbell's wording.
MAX_RENDERED_BYTES = 256 * 1024


@dataclass
class RenderedWorkflow:
    text: str
    spec: WorkflowSpec
    # Defaults the workflow took (a missing timeout...), positioned in the template.
    warnings: list[TemplateProblem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def global_timeout(self) -> int:
        return self.spec.global_timeout

    @property
    def tasks(self) -> list[Any]:
        return self.spec.tasks

    def as_json(self) -> dict[str, Any]:
        return self.spec.as_json()


# --- rendering -------------------------------------------------------------------------------


def _template_position(origins: list[tuple[int, int]], line: int, column: int) -> tuple[int, int]:
    """Where rendered (line, column) came from in the template (best effort for mixed lines)."""
    if 1 <= line <= len(origins):
        origin_line, origin_column = origins[line - 1]
        return origin_line, origin_column + column - 1
    return line, column


def render_workflow(
    body: str, data: Mapping[str, Any], *, name: str = "template"
) -> RenderedWorkflow:
    """Render a template body and validate the workflow it produces."""
    try:
        template = GoTemplate(body, name=name, funcs=_template_functions)
        text, origins = template.render_with_origins(data)
    except TemplateError as exc:
        raise TemplateRenderError(
            [TemplateProblem(exc.line or 1, exc.column or 1, exc.message)]
        ) from exc
    _check_size(text, origins)
    try:
        spec = parse_workflow(text)
    except SpecError as exc:
        raise TemplateRenderError(_positioned(origins, exc.problems)) from exc
    return RenderedWorkflow(text=text, spec=spec, warnings=_positioned(origins, spec.warnings))


def _positioned(
    origins: list[tuple[int, int]], problems: list[SpecProblem]
) -> list[TemplateProblem]:
    placed = []
    for problem in problems:
        line, column = _template_position(origins, problem.line, problem.column)
        placed.append(TemplateProblem(line, column, problem.message))
    return placed


def _check_size(text: str, origins: list[tuple[int, int]]) -> None:
    """Refuse output over the cap, at the template position that wrote the byte past it."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size <= MAX_RENDERED_BYTES:
        return
    written = 0
    line = 1
    for number, rendered_line in enumerate(text.split("\n"), start=1):
        written += len(rendered_line.encode("utf-8", "surrogateescape")) + 1
        line = number
        if written > MAX_RENDERED_BYTES:
            break
    origin_line, origin_column = _template_position(origins, line, 1)
    raise TemplateRenderError(
        [
            TemplateProblem(
                origin_line,
                origin_column,
                f"rendered template exceeds {MAX_RENDERED_BYTES} bytes ({size} bytes)",
            )
        ]
    )


# The data a template sees for a machine. The tinkerbell app, which owns Tinkerbell's shapes,
# sets it from its AppConfig.ready.
TemplateData = Callable[["Machine", Mapping[str, str]], dict[str, Any]]
_template_data_for: TemplateData | None = None


# The template dialect's own functions, on top of Go's builtins and Sprig's (tinkerbell app).
_template_functions: dict[str, Callable[..., Any]] = {}


def register_template_data(build: TemplateData) -> None:
    global _template_data_for
    _template_data_for = build


def register_template_functions(functions: Mapping[str, Callable[..., Any]]) -> None:
    _template_functions.update(functions)


def render_for_machine(
    *, body: str, machine: Machine, hardware_map: Mapping[str, str]
) -> RenderedWorkflow:
    if _template_data_for is None:
        raise RuntimeError("no template data provider is registered (the tinkerbell app)")
    return render_workflow(body, _template_data_for(machine, hardware_map))


def check_template_syntax(body: str, *, name: str = "template") -> list[TemplateProblem]:
    """Parse errors of a template body (rendering needs a machine; this does not)."""
    try:
        GoTemplate(body, name=name, funcs=_template_functions)
    except TemplateError as exc:
        return [TemplateProblem(exc.line or 1, exc.column or 1, exc.message)]
    return []
