"""Every parse and execution error names its line and column in the template source."""

from __future__ import annotations

import pytest

from tinkerbell.template_functions import format_partition
from workflows.gotemplate import TemplateError, parse, render


def error_of(source: str, data: object = None, **kwargs: object) -> TemplateError:
    # formatPartition stands for any function the caller adds (arity and argument types).
    kwargs.setdefault("funcs", {"formatPartition": format_partition})
    with pytest.raises(TemplateError) as caught:
        render(source, {} if data is None else data, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_error_string_names_template_line_and_column() -> None:
    source = "version: 1\ntasks:\n  - worker: {{ .Hardware.foo }}\n"

    error = error_of(source, {"Hardware": {}}, name="ubuntu")

    assert (error.line, error.column) == (3, 16)
    assert error.message == 'map has no entry for key "foo"'
    assert str(error) == 'ubuntu:3:16: map has no entry for key "foo"'


def test_columns_count_characters_in_non_ascii_templates() -> None:
    error = error_of("héllo ✓ {{ .x }}", {})

    assert (error.line, error.column) == (1, 12)


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        ("ab\n  {{ .x", 2, 3, "unclosed action"),
        ("{{ end }}", 1, 4, "unexpected {{end}}"),
        ("a\n{{ else }}", 2, 4, "unexpected {{else}}"),
        ("x\n  {{ if .a }}\n  y\n", 2, 6, "unexpected EOF: {{if}} has no matching {{end}}"),
        (
            "{{ range . }}{{ with . }}{{ end }}",
            1,
            4,
            "unexpected EOF: {{range}} has no matching {{end}}",
        ),
        ("{{ if .a }}{{ else }}{{ else }}{{ end }}", 1, 25, "expected end; found {{else}}"),
        ("x\n  {{ .a | nope }}", 2, 11, 'function "nope" not defined'),
        ("{{ $u }}", 1, 4, 'undefined variable "$u"'),
        ("{{ break }}", 1, 4, "{{break}} outside {{range}}"),
        ("{{ continue }}", 1, 4, "{{continue}} outside {{range}}"),
        ('{{ "unterminated }}', 1, 4, "unterminated quoted string"),
        ("{{ `raw }}", 1, 4, "unterminated raw quoted string"),
        ("{{ 'ab' }}", 1, 4, "invalid syntax"),
        ("{{ (1 }}", 1, 7, "unclosed left paren"),
        ("{{ 1) }}", 1, 5, "unexpected right paren"),
        ("{{ .a@ }}", 1, 6, "bad character U+0040 '@'"),
        ("{{ 3x }}", 1, 4, 'bad number syntax: "3x"'),
        ("{{ }}", 1, 4, "missing value for command"),
        ("{{ if }}", 1, 7, "missing value for if"),
        ("{{ .x | 2 }}", 1, 9, "non executable command in pipeline stage 2"),
        (
            '{{ if true }}{{ define "a" }}{{ end }}{{ end }}',
            1,
            17,
            "unexpected <define> in command",
        ),
        ("{{ template .x }}", 1, 13, 'unexpected ".x" in template clause'),
        ("{{ .x := 1 }}", 1, 7, 'unexpected ":=" in operand'),
        ("{{/* note */ }}", 1, 1, "comment ends before closing delimiter"),
        ("{{/* never closed }}", 1, 1, "unclosed comment"),
        ('{{ "\\q" }}', 1, 4, 'invalid syntax in string "\\q"'),
        (
            '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
            1,
            37,
            'template: multiple definition of template "a"',
        ),
    ],
)
def test_parse_errors(source: str, line: int, column: int, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(source)

    assert (caught.value.message, caught.value.line, caught.value.column) == (message, line, column)


def test_parse_reports_the_earliest_problem_first() -> None:
    # The unclosed action comes later in the source than the unknown function.
    error = error_of("{{ nope }} {{ .x")

    assert error.message == 'function "nope" not defined'


@pytest.mark.parametrize(
    ("source", "data", "line", "column", "message"),
    [
        ("\n  {{ .a.missing }}", {"a": {}}, 2, 6, 'map has no entry for key "missing"'),
        ("{{ .a.b }}", {"a": None}, 1, 4, "nil pointer evaluating interface {}.b"),
        ("{{ .a.b }}", {"a": "text"}, 1, 4, "can't evaluate field b in type string"),
        ("{{ .a.b }}", {"a": [1]}, 1, 4, "can't evaluate field b in type []interface {}"),
        ("{{ .a 1 }}", {"a": 1}, 1, 4, "a is not a method but has arguments"),
        ('{{ "x" | .a }}', {"a": 1}, 1, 10, "a is not a method but has arguments"),
        ("{{ $v := 1 }}{{ $v 2 }}", {}, 1, 17, "can't give argument to non-function $v"),
        ("{{ 1 2 }}", {}, 1, 4, "can't give argument to non-function 1"),
        (
            '{{ formatPartition "/dev/sda" }}',
            {},
            1,
            4,
            "wrong number of args for formatPartition: want 2 got 1",
        ),
        (
            "{{ formatPartition .d .p }}",
            {"d": "/dev/sda", "p": "1"},
            1,
            23,
            "wrong type for value; expected int; got string",
        ),
        ("{{ index .l 9 }}", {"l": []}, 1, 4, "error calling index: index out of range: 9"),
        ('{{ template "nope" }}', {}, 1, 4, 'template "nope" not defined'),
        ("x\n{{ range .s }}{{ end }}", {"s": 3.5}, 2, 4, "range can't iterate over 3.5"),
        (
            "{{ range $i, $e := 3 }}{{ end }}",
            {},
            1,
            4,
            "can't use 3 to iterate over more than one variable",
        ),
        ("{{ $x = 1 }}", {}, 1, 4, "undefined variable: $x"),
    ],
)
def test_execution_errors(source: str, data: object, line: int, column: int, message: str) -> None:
    error = error_of(source, data)

    assert (error.message, error.line, error.column) == (message, line, column)


def test_missing_key_deep_inside_a_defined_template_points_into_it() -> None:
    source = '{{ define "nic" }}\n  mac: {{ .MAC }}\n{{ end }}{{ template "nic" .nic }}'

    error = error_of(source, {"nic": {"IP": "10.0.0.1"}})

    assert (error.line, error.column, error.message) == (2, 11, 'map has no entry for key "MAC"')


def test_recursive_templates_stop_at_a_depth_limit() -> None:
    error = error_of('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}')

    assert error.message == "exceeded maximum template depth (100)"


def test_error_keeps_message_without_position_prefix() -> None:
    error = error_of("{{ .missing }}", {})

    assert error.message == 'map has no entry for key "missing"'
    assert isinstance(error, Exception)
