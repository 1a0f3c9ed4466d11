"""Text, whitespace trimming, comments, literals and how values print (Go's %v).

Expected outputs follow Go's text/template documentation and fmt's formatting rules.
"""

from __future__ import annotations

import dataclasses

import pytest

from workflows.gotemplate import TemplateError, render


def test_text_without_actions_is_copied_verbatim() -> None:
    source = 'version: "0.1"\nname: héllo wörld ✓\n  indented: {not an action}\n'

    assert render(source, {}) == source


def test_action_prints_a_field_of_the_data() -> None:
    assert render("worker: {{ .device_1 }}", {"device_1": "52:54:00:12:34:56"}) == (
        "worker: 52:54:00:12:34:56"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # A left trim marker removes all whitespace (newlines too) before the action...
        ("a  \n\t{{- .x }}", "aX"),
        # ...a right trim marker all whitespace after it...
        ("{{ .x -}}  \n\n b", "Xb"),
        # ...and both together glue the surrounding text to the value.
        ("a \n {{- .x -}} \n b", "aXb"),
        # Only whitespace is trimmed.
        ("a.{{- .x -}}.b", "a.X.b"),
        # Without markers every space and newline stays.
        ("a {{ .x }}\n", "a X\n"),
        # Tabs and carriage returns count as whitespace too.
        ("a\r\n\t{{- .x -}}\t\r\nb", "aXb"),
    ],
)
def test_trim_markers_remove_adjacent_whitespace(source: str, expected: str) -> None:
    assert render(source, {"x": "X"}) == expected


def test_dash_without_following_space_is_a_negative_number_not_a_trim_marker() -> None:
    assert render("a {{-3}}", {}) == "a -3"
    assert render("a {{- 3}}", {}) == "a3"


def test_trimmed_range_produces_clean_yaml_list() -> None:
    source = "items:\n{{- range .l }}\n  - {{ . }}\n{{- end }}\n"

    assert render(source, {"l": ["a", "b"]}) == "items:\n  - a\n  - b\n"


def test_trimmed_if_removes_the_line_of_a_false_branch() -> None:
    source = "a: 1\n{{- if .on }}\nb: 2\n{{- end }}\nc: 3\n"

    assert render(source, {"on": False}) == "a: 1\nc: 3\n"
    assert render(source, {"on": True}) == "a: 1\nb: 2\nc: 3\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a{{/* a comment */}}b", "ab"),
        ("a {{- /* trimmed both sides */ -}} \n b", "ab"),
        ("a{{/* comments\nmay span\nlines */}}b", "ab"),
        ("a {{/* untrimmed */}} b", "a  b"),
    ],
)
def test_comments_produce_no_output(source: str, expected: str) -> None:
    assert render(source, {}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ "tab\\there" }}', "tab\there"),
        ('{{ "\\u00e9\\x41\\101\\\\\\"" }}', 'éAA\\"'),
        ('{{ "\\U0001F600" }}', "\U0001f600"),
        ("{{ `C:\\raw\\path` }}", "C:\\raw\\path"),
        ("{{ `raw strings\nspan lines` }}", "raw strings\nspan lines"),
        ('{{ "héllo wörld" }}', "héllo wörld"),
    ],
)
def test_string_literals_follow_go_quoting(source: str, expected: str) -> None:
    assert render(source, {}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 42 }}", "42"),
        ("{{ -7 }}", "-7"),
        ("{{ +7 }}", "7"),
        ("{{ 0x1F }}", "31"),
        ("{{ 0o17 }}", "15"),
        ("{{ 017 }}", "15"),
        ("{{ 0b101 }}", "5"),
        ("{{ 1_000 }}", "1000"),
        ("{{ 1.5 }}", "1.5"),
        ("{{ .5 }}", "0.5"),
        # Constants written like floats are float64 and print with %v: 1.0 is "1"...
        ("{{ 1.0 }}", "1"),
        # ...and large or tiny ones switch to exponent form.
        ("{{ 1e6 }}", "1e+06"),
        ("{{ 1e-5 }}", "1e-05"),
        # Character constants are runes, i.e. numbers.
        ("{{ 'a' }}", "97"),
        ("{{ '\\n' }}", "10"),
        ("{{ 'é' }}", "233"),
        ("{{ true }} {{ false }}", "true false"),
    ],
)
def test_number_char_and_bool_constants(source: str, expected: str) -> None:
    assert render(source, {}) == expected


@dataclasses.dataclass
class Point:
    x: int
    y: str


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "<no value>"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        ("text", "text"),
        ("", ""),
        (2.5, "2.5"),
        (3.0, "3"),
        (-0.0, "-0"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        ([], "[]"),
        (["a", 1, True, None, ["x"]], "[a 1 true <nil> [x]]"),
        (("t", 2), "[t 2]"),
        ({}, "map[]"),
        ({"b": 2, "a": {"c": "d"}}, "map[a:map[c:d] b:2]"),
        ({10: "ten", 9: "nine"}, "map[9:nine 10:ten]"),
        ({"k": None}, "map[k:<nil>]"),
        (Point(1, "p"), "{1 p}"),
    ],
)
def test_values_print_like_go_default_format(value: object, expected: str) -> None:
    assert render("{{ .v }}", {"v": value}) == expected


def test_dot_prints_the_whole_data() -> None:
    assert render("{{ . }}", {"b": [1, 2], "a": "x"}) == "map[a:x b:[1 2]]"


def test_nil_constant_is_not_a_command() -> None:
    with pytest.raises(TemplateError, match="nil is not a command"):
        render("{{ nil }}", {})


def test_function_value_cannot_be_printed() -> None:
    with pytest.raises(TemplateError, match="can't print"):
        render("{{ .f }}", {"f": print})
