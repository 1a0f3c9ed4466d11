"""A template checked while it is written, and rendered for one machine before any workflow.

``template_lint`` answers what an editor marks on the body's lines: the syntax errors saving
refuses, then what rendering finds (YAML, unknown keys, bad values) and the defaults a workflow
would take (a missing timeout), each at its template line. Without a machine the body is
rendered on a sample machine (the tinkerbell app provides its data), where a missing hardware
map key or disk is only a warning: a real machine may well have it.

``template_preview`` renders a body for a real machine as ``workflow_create`` would, and says
what would refuse the start today. Both only read: no workflow, event or other row is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from inventory.models import Machine
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.secrets import masked_spec, masked_text
from workflows.gotemplate import TemplateError
from workflows.models import Template
from workflows.rendering import (
    RenderedWorkflow,
    TemplateProblem,
    TemplateRenderError,
    check_template_syntax,
    render_for_machine,
    render_workflow,
)
from workflows.services.planning import default_hardware_map, workflow_plan

ERROR = "error"
WARNING = "warning"
# What kind of problem a diagnostic is: saving refuses "syntax" problems only; "render"
# problems stop a workflow on the machine; "workflow" ones are about the rendered workflow.
SYNTAX = "syntax"
RENDER = "render"
WORKFLOW = "workflow"
SAMPLE = "sample"


@dataclass(frozen=True)
class Diagnostic:
    line: int
    column: int
    severity: str
    message: str
    kind: str

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            "kind": self.kind,
        }


@dataclass
class LintResult:
    diagnostics: list[Diagnostic]
    # "sample", or the hostname of the machine the body was rendered for.
    rendered_for: str

    @property
    def saveable(self) -> bool:
        return not any(d.kind == SYNTAX for d in self.diagnostics)

    @property
    def valid(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    def as_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "saveable": self.saveable,
            "rendered_for": self.rendered_for,
            "diagnostics": [d.as_json() for d in self.diagnostics],
        }


# The data a template sees on the sample machine; the tinkerbell app, which owns that shape,
# sets it from its AppConfig.ready.
SampleData = Callable[[], dict[str, Any]]
_sample_data: SampleData | None = None


def register_sample_template_data(build: SampleData) -> None:
    global _sample_data
    _sample_data = build


def _diagnostics(problems: list[TemplateProblem], severity: str, kind: str) -> list[Diagnostic]:
    return [Diagnostic(p.line, p.column, severity, p.message, kind) for p in problems]


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.line, d.column))


def template_lint(
    *,
    body: str,
    name: str = "",
    machine: Machine | None = None,
    hardware_map: Mapping[str, str] | None = None,
) -> LintResult:
    """Every problem of ``body`` at its line: on ``machine`` (its default hardware map unless
    one is given) or, without one, on the sample machine."""
    rendered_for = machine.hostname if machine is not None else SAMPLE
    # The same check, with the same name, as the template services run before saving.
    syntax = check_template_syntax(body, name=name or "template")
    if syntax:
        return LintResult(_diagnostics(syntax, ERROR, SYNTAX), rendered_for)
    try:
        if machine is None:
            if _sample_data is None:
                raise RuntimeError("no sample template data is registered (the tinkerbell app)")
            rendered = render_workflow(body, _sample_data(), name=name or "template")
        else:
            mapping = dict(hardware_map) if hardware_map else default_hardware_map(machine)
            rendered = render_for_machine(body=body, machine=machine, hardware_map=mapping)
    except TemplateRenderError as exc:
        # Executing the template failed (a key or a disk the data lacks...): on the sample
        # machine that says more about the sample than about the template.
        executing = isinstance(exc.__cause__, TemplateError)
        if executing and machine is None:
            problems = [
                TemplateProblem(p.line, p.column, f"on the sample machine: {p.message}")
                for p in exc.problems
            ]
            return LintResult(_diagnostics(problems, WARNING, RENDER), rendered_for)
        kind = RENDER if executing else WORKFLOW
        return LintResult(_sorted(_diagnostics(exc.problems, ERROR, kind)), rendered_for)
    return LintResult(_sorted(_diagnostics(rendered.warnings, WARNING, WORKFLOW)), rendered_for)


@dataclass
class TemplatePreview:
    machine: Machine
    hardware_map: dict[str, str]
    rendered: RenderedWorkflow
    # Why starting this workflow on the machine now would be refused (its state, a busy
    # machine, an unknown worker...); the render itself is fine.
    refusals: list[str] = field(default_factory=list)


def template_preview(
    *, body: str, machine: Machine, hardware_map: Mapping[str, str] | None = None
) -> TemplatePreview:
    """The workflow ``body`` renders for ``machine``; raises TemplateRenderError with the
    located problems when it does not render."""
    mapping = dict(hardware_map) if hardware_map else default_hardware_map(machine)
    rendered = render_for_machine(body=body, machine=machine, hardware_map=mapping)
    return TemplatePreview(
        machine=machine,
        hardware_map=mapping,
        rendered=rendered,
        refusals=_start_refusals(body, machine, mapping),
    )


def _start_refusals(body: str, machine: Machine, mapping: dict[str, str]) -> list[str]:
    """What ``workflow_create`` would say today, from the planning it runs (which writes
    nothing); an unsaved template carries the body."""
    try:
        workflow_plan(template=Template(body=body), machine=machine, hardware_map=mapping)
    except ValidationError as exc:
        return list(exc.messages)
    except ConflictError as exc:
        return [str(exc)]
    return []


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (scripts, config files) as literal blocks, the way they were written."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


# Left out of the YAML when empty, as a template author would leave them out.
_OPTIONAL_KEYS = {"command", "volumes", "environment", "pid", "on_timeout", "on_failure"}


def _without_empty(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    if isinstance(value, dict):
        return {
            # An environment is the container's: every variable stays, set or empty.
            key: item if key == "environment" else _without_empty(item)
            for key, item in value.items()
            if not (key in _OPTIONAL_KEYS and item in ("", [], {}))
        }
    return value


def workflow_yaml(workflow: Mapping[str, Any]) -> str:
    """The workflow as YAML for people: multi-line strings as blocks, empty options left out."""
    return yaml.dump(
        _without_empty(dict(workflow)),
        Dumper=_BlockDumper,
        sort_keys=False,
        allow_unicode=True,
        width=120,
    )


def preview_document(preview: TemplatePreview, *, reveal_secrets: bool) -> dict[str, Any]:
    """The preview as the API and the pages show it: environment values (and the rendered
    text that holds them) masked unless the reader may see secrets."""
    workflow = preview.rendered.as_json()
    if not reveal_secrets:
        workflow = masked_spec(workflow)
    text = preview.rendered.text
    return {
        "machine": {"id": preview.machine.pk, "hostname": preview.machine.hostname},
        "hardware_map": preview.hardware_map,
        "workflow": workflow,
        "yaml": workflow_yaml(workflow),
        "rendered": text if reveal_secrets else masked_text(text),
        "secrets_masked": not reveal_secrets,
        "warnings": [
            d.as_json() for d in _diagnostics(preview.rendered.warnings, WARNING, WORKFLOW)
        ],
        "refusals": preview.refusals,
    }


def render_failure(exc: TemplateRenderError, machine: Machine) -> dict[str, Any]:
    """A body that does not render for ``machine``: each problem at its template line."""
    executing = isinstance(exc.__cause__, TemplateError)
    errors = _diagnostics(exc.problems, ERROR, RENDER if executing else WORKFLOW)
    first = errors[0] if errors else None
    where = f" (line {first.line}, column {first.column}: {first.message})" if first else ""
    return {
        "detail": f"The template does not render for {machine.hostname}{where}.",
        "machine": {"id": machine.pk, "hostname": machine.hostname},
        "errors": [d.as_json() for d in errors],
    }
