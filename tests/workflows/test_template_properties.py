"""Property tests for template rendering: whatever an operator pastes in as a template, and
whatever a hardware map holds, rendering gives a workflow or problems that point at a line and
column of the template — never an unhandled exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tinkerbell.template_data import template_data
from workflows.rendering import (
    RenderedWorkflow,
    TemplateRenderError,
    check_template_syntax,
    render_workflow,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tinkerbell"
TEMPLATE = (FIXTURES / "ubuntu-jammy.tmpl").read_text()
HARDWARE = yaml.safe_load((FIXTURES / "sm01.yaml").read_text())
MAC = "3c:ec:ef:4a:10:02"
PROPERTIES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces templates are made of, so that generated text is mostly almost-valid template.
FRAGMENTS = [
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    "  ",
    ".",
    ".device_1",
    ".Hardware.Disks",
    "index",
    "0",
    "1",
    "-1",
    "999999999999999999999",
    '"x"',
    "`raw`",
    "'c'",
    "|",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "$x",
    ":=",
    "=",
    "eq",
    "ne",
    "and",
    "or",
    "not",
    "len",
    "printf",
    '"%d"',
    "formatPartition",
    "netmaskToPrefixLength",
    "toYaml",
    "fromYaml",
    "default",
    "quote",
    "contains",
    "hasPrefix",
    "regexMatch",
    '"("',
    "nil",
    "true",
    "/*",
    "*/",
    'version: "0.1"',
    "tasks:",
    "- name: a",
    "actions:",
    "worker:",
    "timeout: 5",
    "image: alpine",
    ":",
    "#",
    "&a",
    "*a",
    "!!binary",
    "\t",
    "é",
    "\x00",
]
SOUP = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)


def assert_located(problems: list[Any], body: str) -> None:
    assert problems
    lines = body.count("\n") + 2  # a problem may sit just past the last line (end of input)
    for problem in problems:
        assert problem.message.strip()
        assert 1 <= problem.line <= lines, (problem, lines)
        assert problem.column >= 1, problem


def render(body: str, data: dict[str, Any]) -> RenderedWorkflow | list[Any]:
    try:
        return render_workflow(body, data)
    except TemplateRenderError as exc:
        return exc.problems


@PROPERTIES
@given(SOUP)
@example("{{ index .Hardware.Disks 999999999999999999999 }}")
@example('{{ printf "%d" }}')
@example('{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}')
@example("{{ range $i := 0 }}{{ end }}")
def test_any_text_renders_or_names_a_line_and_column(body: str) -> None:
    outcome = render(body, template_data(HARDWARE, {"device_1": MAC}))
    if isinstance(outcome, list):
        assert_located(outcome, body)
    else:
        assert outcome.spec.tasks  # a workflow came out: it has work in it
    syntax = check_template_syntax(body)
    if syntax:
        assert_located(syntax, body)
        assert isinstance(outcome, list)  # what does not parse does not render either


@PROPERTIES
@given(
    position=st.integers(min_value=0, max_value=len(TEMPLATE)),
    cut=st.integers(min_value=0, max_value=40),
    insert=SOUP,
)
def test_a_damaged_real_template_renders_or_names_a_line_and_column(
    position: int, cut: int, insert: str
) -> None:
    body = TEMPLATE[:position] + insert + TEMPLATE[position + cut :]
    outcome = render(body, template_data(HARDWARE, {"device_1": MAC}))
    if isinstance(outcome, list):
        assert_located(outcome, body)


@PROPERTIES
@given(st.dictionaries(st.sampled_from(["device_1", "device_2", "x"]), st.text(max_size=30)))
@example({"device_1": "a: b\n- c"})
@example({"device_1": "{{ .device_1 }}"})
def test_any_hardware_map_value_renders_or_names_a_line_and_column(
    hardware_map: dict[str, str],
) -> None:
    outcome = render(TEMPLATE, template_data(HARDWARE, hardware_map))
    if isinstance(outcome, list):
        assert_located(outcome, TEMPLATE)
        return
    # A value is data, never template code, whatever braces it holds: the worker is the value.
    value = hardware_map["device_1"]
    if all(" " <= char <= "~" and char not in '"\\' for char in value):
        assert outcome.spec.tasks[0].worker == value
