"""Pipelines, field access, Go's predefined functions and printf, and caller functions."""

from __future__ import annotations

import pytest

from workflows.gotemplate import TemplateError, parse, render

HARDWARE = {
    "Hardware": {
        "Disks": ["/dev/sda", "/dev/sdb"],
        "Interfaces": [{"DHCP": {"Arch": "aarch64", "IP": {"Address": "10.0.0.9"}}}],
    }
}


def test_pipe_passes_the_previous_result_as_the_last_argument() -> None:
    assert render('{{ "x" | printf "%s-%s" "a" }}', {}) == "a-x"
    assert render('{{ .n | printf "%d" | printf "<%s>" }}', {"n": 3}) == "<3>"


def test_parenthesized_pipeline_as_an_argument() -> None:
    assert render('{{ printf "%d disks" (len .Hardware.Disks) }}', HARDWARE) == "2 disks"


def test_field_access_on_a_parenthesized_result() -> None:
    source = (
        "{{ (index .Hardware.Interfaces 0).DHCP.Arch }} "
        "{{ (index .Hardware.Interfaces 0).DHCP.IP.Address }}"
    )

    assert render(source, HARDWARE) == "aarch64 10.0.0.9"


def test_chained_fields_on_nested_maps() -> None:
    assert render("{{ .a.b.c }}", {"a": {"b": {"c": "deep"}}}) == "deep"


def test_variables_support_field_chains() -> None:
    source = "{{ $nic := index .Hardware.Interfaces 0 }}{{ $nic.DHCP.IP.Address }}"

    assert render(source, HARDWARE) == "10.0.0.9"


class Machine:
    Name = "worker-1"
    _secret = "hidden"

    def __init__(self) -> None:
        self.Labels = {"rack": "r1"}

    def Greet(self, who: str) -> str:
        return f"hello {who} from {self.Name}"

    def Count(self) -> int:
        return 3


def test_fields_and_methods_of_objects() -> None:
    data = {"m": Machine()}

    assert render("{{ .m.Name }} {{ .m.Labels.rack }} {{ .m.Count }}", data) == "worker-1 r1 3"
    assert render('{{ .m.Greet "ops" }}', data) == "hello ops from worker-1"
    assert render('{{ "pipe" | .m.Greet }}', data) == "hello pipe from worker-1"


def test_private_attributes_are_not_reachable() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field _secret in type Machine"):
        render("{{ .m._secret }}", {"m": Machine()})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # and/or return the argument that decided the result.
        ("{{ and 1 0 2 }}", "0"),
        ("{{ and 1 2 }}", "2"),
        ('{{ or 0 "" "z" }}', "z"),
        ('{{ or 0 "" }}', ""),
        # They stop evaluating at the deciding argument, so the missing key is never read.
        ("{{ or true .missing }}", "true"),
        ("{{ and false .missing }}", "false"),
        ("{{ .v | and 1 }}", "piped"),
        ('{{ not 0 }} {{ not 1 }} {{ not "" }}', "true false true"),
    ],
)
def test_logic_functions(source: str, expected: str) -> None:
    assert render(source, {"v": "piped"}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # len counts bytes of a string, as Go does.
        ('{{ len "abc" }} {{ len "héllo" }}', "3 6"),
        ("{{ len .l }} {{ len .m }}", "3 1"),
        ('{{ index .l 1 }} {{ index .m "k" 0 }}', "2 v"),
        ("{{ index .nested 0 1 }}", "b"),
        # A missing map key gives the zero value rather than an error.
        ('{{ index .m "absent" }}', "<no value>"),
        # Indexing a string gives a byte.
        ('{{ index "abc" 1 }}', "98"),
        ("{{ slice .l 1 }} {{ slice .l 1 2 }} {{ slice .l }}", "[2 3] [2] [1 2 3]"),
    ],
)
def test_len_index_and_slice(source: str, expected: str) -> None:
    data = {"l": [1, 2, 3], "m": {"k": ["v"]}, "nested": [["a", "b"]]}

    assert render(source, data) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ index .l 3 }}", "error calling index: index out of range: 3"),
        ("{{ index .l -1 }}", "error calling index: index out of range: -1"),
        ('{{ index .l "a" }}', "error calling index: cannot index slice/array with type string"),
        ("{{ index 5 0 }}", "error calling index: can't index item of type int"),
        # Sprig's slice replaces Go's builtin (a template's functions come first), as in
        # Tinkerbell: strings cannot be sliced and bounds errors come from reflect.
        (
            '{{ slice "hello" 1 3 }}',
            "error calling slice: list should be type of slice or array but string",
        ),
        (
            "{{ slice .l 2 1 }}",
            "error calling slice: reflect.Value.Slice: slice index out of bounds",
        ),
        (
            "{{ slice .l 0 9 }}",
            "error calling slice: reflect.Value.Slice: slice index out of bounds",
        ),
        ("{{ len 3 }}", "error calling len: len of type int"),
        ("{{ len .n }}", "error calling len: len of nil pointer"),
    ],
)
def test_len_index_and_slice_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, {"l": [1, 2, 3], "n": None})

    assert caught.value.message == message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ eq 1 1 }} {{ eq 1 2 }}", "true false"),
        # eq with several arguments is true when the first equals any of the others.
        ('{{ eq .arch "x86_64" "aarch64" }}', "true"),
        ('{{ eq "a" "b" "c" }}', "false"),
        # Comparing with a nil value is simply false.
        ('{{ eq .n "x" }}', "false"),
        ('{{ ne "a" "b" }} {{ ne 2 2 }}', "true false"),
        ("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge 3 3 }}", "true true false true"),
        ('{{ lt "abc" "abd" }} {{ gt "b" "a" }}', "true true"),
    ],
)
def test_comparison_functions(source: str, expected: str) -> None:
    assert render(source, {"arch": "aarch64", "n": None}) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{{ eq 1 "1" }}', "error calling eq: incompatible types for comparison"),
        ("{{ eq 1 1.0 }}", "error calling eq: incompatible types for comparison"),
        ("{{ lt true false }}", "error calling lt: invalid type for comparison"),
        ('{{ lt 1 "2" }}', "error calling lt: incompatible types for comparison"),
        ("{{ eq 1 }}", "error calling eq: missing argument for comparison"),
    ],
)
def test_comparison_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, {})

    assert caught.value.message == message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # print puts spaces only between operands when neither is a string.
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ("{{ print .n }}", "<nil>"),
        ('{{ println 1 "a" }}', "1 a\n"),
        ('{{ printf "%s=%d" "k" 7 }}', "k=7"),
        ('{{ printf "%v %v %v" .l .m .n }}', "[1 a] map[k:v] <nil>"),
        ('{{ printf "%q %q" "a\\"b" 65 }}', '"a\\"b" \'A\''),
        ('{{ printf "%x %X %o %b %c %U" 255 255 8 5 65 65 }}', "ff FF 10 101 A U+0041"),
        ('{{ printf "%x" "hi" }}', "6869"),
        ('{{ printf "%t %v" true false }}', "true false"),
        (
            '{{ printf "%f %.2f %e %g %g" 3.14159 3.14159 1234.5678 0.000012345 100.0 }}',
            "3.141590 3.14 1.234568e+03 1.2345e-05 100",
        ),
        ('{{ printf "[%5d|%-5d|%05d|%+d|%x]" 42 42 -42 5 -255 }}', "[   42|42   |-0042|+5|-ff]"),
        (
            '{{ printf "[%6s|%-6s|%.2s|%8.3f]" "ab" "ab" "abc" 3.14159 }}',
            "[    ab|ab    |ab|   3.142]",
        ),
        ('{{ printf "%*d" 4 7 }}', "   7"),
        ('{{ printf "100%%" }}', "100%"),
        (
            '{{ printf "%T %T %T %T" 1 "s" .l .m }}',
            "int string []interface {} map[string]interface {}",
        ),
        # Go reports formatting mistakes in the output instead of failing.
        ('{{ printf "%d" "x" }}', "%!d(string=x)"),
        ('{{ printf "%s %s" "a" }}', "a %!s(MISSING)"),
        ('{{ printf "%s" "a" 1 }}', "a%!(EXTRA int=1)"),
        ('{{ printf "%d" .l }}', "[1 %!d(string=a)]"),
    ],
)
def test_print_functions(source: str, expected: str) -> None:
    assert render(source, {"l": [1, "a"], "m": {"k": "v"}, "n": None}) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            '{{ html "<a href=\'x\'>Tom & \\"Jerry\\"</a>" }}',
            "&lt;a href=&#39;x&#39;&gt;Tom &amp; &#34;Jerry&#34;&lt;/a&gt;",
        ),
        ('{{ js "it\'s <b>\\n=" }}', "it\\'s \\u003Cb\\u003E\\u000A\\u003D"),
        ('{{ urlquery "a b&c/é?" }}', "a+b%26c%2F%C3%A9%3F"),
        ("{{ html .n }}", "&lt;no value&gt;"),
        ("{{ html 1 2 }}", "1 2"),
    ],
)
def test_escaping_functions(source: str, expected: str) -> None:
    assert render(source, {"n": None}) == expected


def test_call_invokes_a_function_value_from_the_data() -> None:
    data = {"mul": lambda a, b: a * b}

    assert render("{{ call .mul 6 7 }}", data) == "42"


def test_call_checks_the_argument_count() -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ call .mul 6 }}", {"mul": lambda a, b: a * b})

    assert caught.value.message == "error calling call: wrong number of args for .mul: got 1 want 2"


def test_caller_functions_are_available_and_checked() -> None:
    def double(n: int) -> int:
        return n * 2

    funcs = {"double": double, "shout": lambda s: s.upper() + "!"}

    assert render('{{ double 21 }} {{ "hi" | shout }}', {}, funcs=funcs) == "42 HI!"
    with pytest.raises(TemplateError, match='expected integer; found "x"'):
        render('{{ double "x" }}', {}, funcs=funcs)


def test_caller_functions_override_defaults() -> None:
    assert render('{{ lower "ABC" }}', {}, funcs={"lower": lambda s: "overridden"}) == "overridden"


def test_caller_function_exception_becomes_a_positioned_error() -> None:
    def explode(value: str) -> str:
        raise ValueError(f"cannot handle {value}")

    with pytest.raises(TemplateError) as caught:
        render('line one\n  {{ explode "x" }}', {}, funcs={"explode": explode})

    assert str(caught.value) == "template:2:6: error calling explode: cannot handle x"


def test_parse_validates_without_data_and_renders_many_times() -> None:
    template = parse('{{ define "x" }}{{ . }}{{ end }}{{ template "x" .v }}', name="t")

    assert template.template_names == {"t", "x"}
    assert template.render({"v": 1}) == "1"
    assert template.render({"v": 2}) == "2"
