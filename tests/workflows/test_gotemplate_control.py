"""if / else if / else, with, range, break/continue, define/template/block, variables."""

from __future__ import annotations

import pytest

from workflows.gotemplate import TemplateError, render

FALSY: list[object] = [False, 0, 0.0, None, "", [], {}, ()]
TRUTHY: list[object] = [True, 1, -1, 0.5, "0", " ", [0], {"k": None}, object()]


@pytest.mark.parametrize("value", FALSY)
def test_if_treats_zero_values_as_false(value: object) -> None:
    assert render("{{ if .v }}yes{{ else }}no{{ end }}", {"v": value}) == "no"


@pytest.mark.parametrize("value", TRUTHY)
def test_if_treats_everything_else_as_true(value: object) -> None:
    assert render("{{ if .v }}yes{{ else }}no{{ end }}", {"v": value}) == "yes"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1, "b": 1}, "A"),
        ({"a": 0, "b": 1}, "B"),
        ({"a": 0, "b": 0}, "C"),
    ],
)
def test_else_if_chain_picks_the_first_true_branch(data: dict[str, int], expected: str) -> None:
    source = "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}"

    assert render(source, data) == expected


def test_if_without_else_prints_nothing_when_false() -> None:
    assert render("[{{ if .v }}x{{ end }}]", {"v": ""}) == "[]"


def test_with_sets_dot_to_the_value() -> None:
    source = "{{ with .net }}{{ .ip }}/{{ .prefix }}{{ end }}"

    assert render(source, {"net": {"ip": "10.0.0.2", "prefix": 24}}) == "10.0.0.2/24"


def test_with_else_and_else_with() -> None:
    source = "{{ with .a }}a={{ . }}{{ else with .b }}b={{ . }}{{ else }}none{{ end }}"

    assert render(source, {"a": "A", "b": "B"}) == "a=A"
    assert render(source, {"a": "", "b": "B"}) == "b=B"
    assert render(source, {"a": "", "b": []}) == "none"


def test_range_over_list_sets_dot_to_each_element() -> None:
    assert render("{{ range . }}[{{ . }}]{{ end }}", ["a", "b", "c"]) == "[a][b][c]"


def test_range_with_index_and_element_variables() -> None:
    source = "{{ range $i, $disk := .disks }}{{ $i }}={{ $disk }} {{ end }}"

    assert render(source, {"disks": ["/dev/sda", "/dev/sdb"]}) == "0=/dev/sda 1=/dev/sdb "


def test_range_with_one_variable_binds_the_element() -> None:
    assert render("{{ range $v := . }}{{ $v }};{{ end }}", [7, 8]) == "7;8;"


def test_range_over_map_visits_keys_in_sorted_order() -> None:
    source = "{{ range $k, $v := . }}{{ $k }}={{ $v }},{{ end }}"

    assert render(source, {"b": 2, "c": 3, "a": 1}) == "a=1,b=2,c=3,"
    assert render(source, {10: "ten", 9: "nine", 100: "hundred"}) == "9=nine,10=ten,100=hundred,"


def test_range_over_map_without_variables_sets_dot_to_values() -> None:
    assert render("{{ range . }}{{ . }}{{ end }}", {"z": 1, "a": 2}) == "21"


@pytest.mark.parametrize("empty", [[], {}, None, 0])
def test_range_else_runs_for_empty_collections(empty: object) -> None:
    assert render("{{ range .v }}item{{ else }}empty{{ end }}", {"v": empty}) == "empty"


def test_range_over_an_integer_counts_from_zero() -> None:
    assert render("{{ range 3 }}{{ . }}{{ end }}", {}) == "012"


def test_range_keeps_root_reachable_through_dollar() -> None:
    source = '{{ range .hosts }}{{ $.domain | printf "%s.%s " . }}{{ end }}'

    assert render(source, {"hosts": ["a", "b"], "domain": "lab"}) == "a.lab b.lab "


def test_break_and_continue_inside_range() -> None:
    source = (
        "{{ range $i, $e := . }}"
        "{{ if eq $i 1 }}{{ continue }}{{ end }}"
        "{{ if eq $i 3 }}{{ break }}{{ end }}"
        "{{ $e }}"
        "{{ end }}"
    )

    assert render(source, ["a", "b", "c", "d", "e"]) == "ac"


def test_break_skips_the_else_branch() -> None:
    assert render("{{ range . }}{{ break }}{{ else }}empty{{ end }}done", [1]) == "done"


def test_range_over_a_string_is_an_error() -> None:
    with pytest.raises(TemplateError, match="range can't iterate over hello"):
        render("{{ range .s }}{{ end }}", {"s": "hello"})


def test_define_and_template_invoke_a_named_template_with_data() -> None:
    source = '{{ define "greet" }}Hello {{ . }}!{{ end }}{{ template "greet" .name }}'

    assert render(source, {"name": "Ada"}) == "Hello Ada!"


def test_template_without_pipeline_runs_with_nil_data() -> None:
    source = '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" }}'

    assert render(source, {"x": 1}) == "[<no value>]"


def test_dollar_inside_a_defined_template_is_its_own_data() -> None:
    source = '{{ define "t" }}{{ $ }}{{ end }}{{ template "t" .inner }}'

    assert render(source, {"inner": "mine"}) == "mine"


def test_defined_templates_produce_no_output_where_defined() -> None:
    source = 'a{{ define "t" }}never{{ end }}b'

    assert render(source, {}) == "ab"


def test_templates_may_call_each_other() -> None:
    source = (
        '{{ define "item" }}- {{ . }}\n{{ end }}'
        '{{ define "list" }}{{ range . }}{{ template "item" . }}{{ end }}{{ end }}'
        '{{ template "list" .items }}'
    )

    assert render(source, {"items": ["x", "y"]}) == "- x\n- y\n"


def test_block_defines_and_executes_in_place() -> None:
    source = '<{{ block "content" .v }}default {{ . }}{{ end }}>'

    assert render(source, {"v": 5}) == "<default 5>"


def test_variable_declaration_prints_nothing_and_is_usable_later() -> None:
    assert render("{{ $x := .v }}[{{ $x }}]", {"v": "val"}) == "[val]"


def test_assignment_inside_if_changes_the_outer_variable() -> None:
    source = "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"

    assert render(source, {}) == "2"


def test_declaration_inside_if_shadows_until_end() -> None:
    source = "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"

    assert render(source, {}) == "21"


def test_variable_declared_inside_if_does_not_exist_after_end() -> None:
    with pytest.raises(TemplateError, match='undefined variable "\\$y"') as caught:
        render("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}", {})

    assert (caught.value.line, caught.value.column) == (1, 39)


def test_assignment_inside_range_accumulates() -> None:
    source = "{{ $n := 0 }}{{ range . }}{{ $n = add $n . }}{{ end }}{{ $n }}"

    assert render(source, [1, 2, 3]) == "6"


def test_if_pipeline_variable_is_visible_in_both_branches() -> None:
    source = "{{ if $v := .a }}yes {{ $v }}{{ else }}no [{{ $v }}]{{ end }}"

    assert render(source, {"a": "A"}) == "yes A"
    assert render(source, {"a": 0}) == "no [0]"


def test_with_can_declare_a_variable() -> None:
    assert render("{{ with $v := .a }}{{ $v }}{{ . }}{{ end }}", {"a": "w"}) == "ww"


def test_outer_variables_are_not_visible_inside_defined_templates() -> None:
    source = '{{ $x := 1 }}{{ define "t" }}{{ $x }}{{ end }}'

    with pytest.raises(TemplateError, match='undefined variable "\\$x"'):
        render(source, {})
