"""Tinkerbell's template functions and the Sprig functions its templates use.

Behaviour follows Tinkerbell's template_funcs.go (formatPartition, netmaskToPrefixLength,
toYaml, fromYaml) and Sprig's documentation for the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tinkerbell.template_functions import TINKERBELL_FUNCTIONS
from workflows.gotemplate import TemplateError
from workflows.gotemplate import render as go_render


def render(source: str, data: object, **options: Any) -> str:
    """Rendered as Tinkerbell renders: Sprig plus its own functions."""
    return go_render(source, data, funcs=TINKERBELL_FUNCTIONS, **options)


@pytest.mark.parametrize(
    ("device", "partition", "expected"),
    [
        ("/dev/sda", 1, "/dev/sda1"),
        ("/dev/vda", 2, "/dev/vda2"),
        # Device names ending in a digit take a "p" before the partition number.
        ("/dev/nvme0n1", 1, "/dev/nvme0n1p1"),
        ("/dev/mmcblk0", 3, "/dev/mmcblk0p3"),
        ("/dev/loop0", 3, "/dev/loop0p3"),
        # Stable by-id/by-path names use udev's "-partN" suffix.
        ("/dev/disk/by-id/ata-SSD_123", 1, "/dev/disk/by-id/ata-SSD_123-part1"),
    ],
)
def test_format_partition(device: str, partition: int, expected: str) -> None:
    data = {"Hardware": {"Disks": [device]}, "p": partition}

    assert render("{{ formatPartition ( index .Hardware.Disks 0 ) .p }}", data) == expected


def test_format_partition_wants_an_integer_partition() -> None:
    with pytest.raises(TemplateError, match='expected integer; found "1"'):
        render('{{ formatPartition "/dev/sda" "1" }}', {})


@pytest.mark.parametrize(
    ("netmask", "expected"),
    [
        ("255.255.255.0", "24"),
        ("255.255.0.0", "16"),
        ("255.255.255.252", "30"),
        ("255.255.255.255", "32"),
        ("0.0.0.0", "0"),
        # Go's IPMask.Size reports 0 for a mask that is not contiguous ones.
        ("255.0.255.0", "0"),
    ],
)
def test_netmask_to_prefix_length(netmask: str, expected: str) -> None:
    assert render("{{ netmaskToPrefixLength .m }}", {"m": netmask}) == expected


@pytest.mark.parametrize(
    ("netmask", "message"),
    [
        ("255.255.255", "invalid netmask format: 255.255.255"),
        ("256.255.255.0", "invalid netmask format: 256.255.255.0"),
        ("", "invalid netmask format: "),
        ("::1", "netmask must be IPv4: ::1"),
    ],
)
def test_netmask_to_prefix_length_rejects_invalid_masks(netmask: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ netmaskToPrefixLength .m }}", {"m": netmask})

    assert caught.value.message == f"error calling netmaskToPrefixLength: {message}"


def test_to_yaml_sorts_keys_and_quotes_ambiguous_strings() -> None:
    value = {
        "name": "worker",
        "ports": [22, 80],
        "labels": {"yes": "yes", "zone": "123", "empty": "", "on": True, "ratio": 0.5},
        "script": "line one\nline two",
        "none": None,
    }

    rendered = render("{{ toYaml .v }}", {"v": value})

    assert rendered == (
        "labels:\n"
        '  empty: ""\n'
        '  "on": true\n'
        "  ratio: 0.5\n"
        '  "yes": "yes"\n'
        '  zone: "123"\n'
        "name: worker\n"
        "none: null\n"
        "ports:\n"
        "- 22\n"
        "- 80\n"
        "script: |-\n"
        "  line one\n"
        "  line two"
    )
    assert yaml.safe_load(rendered) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "null"), ("hello", "hello"), ({}, "{}"), ([], "[]"), (3.0, "3"), (True, "true")],
)
def test_to_yaml_of_scalars_has_no_trailing_newline(value: object, expected: str) -> None:
    assert render("{{ toYaml .v }}", {"v": value}) == expected


def test_to_yaml_with_nindent_embeds_a_block() -> None:
    source = "metadata:{{ .m | toYaml | nindent 2 }}\n"

    assert render(source, {"m": {"b": 1, "a": "x"}}) == "metadata:\n  a: x\n  b: 1\n"


def test_from_yaml_returns_data_usable_in_the_template() -> None:
    source = (
        "{{ $m := fromYaml .y }}{{ $m.name }} {{ index $m.list 1 }} {{ $m.flag }} {{ $m.time }}"
    )
    text = "name: alice\nlist: [a, b]\nflag: yes\ntime: 12:30\n"

    assert render(source, {"y": text}) == "alice b true 12:30"


def test_from_yaml_numbers_are_float64_like_json_decoding() -> None:
    source = "{{ $m := fromYaml .y }}{{ $m.small }} {{ $m.big }} {{ $m.frac }}"

    assert render(source, {"y": "small: 3\nbig: 1000000\nfrac: 0.25"}) == "3 1e+06 0.25"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "error calling fromYaml: fromYaml: empty YAML input"),
        ("a: [", "error calling fromYaml: fromYaml: error converting YAML to JSON: yaml: line 1:"),
    ],
)
def test_from_yaml_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render("{{ fromYaml .y }}", {"y": text})

    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ lower "MiXeD" }} {{ upper "MiXeD" }}', "mixed MIXED"),
        ('{{ title "hello wORLD" }}', "Hello WORLD"),
        ('{{ trim "  x y \\n" }}', "x y"),
        (
            '{{ trimPrefix "v" "v1.2" }} {{ trimSuffix ".gz" "a.gz" }} {{ trimAll "-" "--x--" }}',
            "1.2 a x",
        ),
        # Sprig puts the string last so it can be piped in: contains SUBSTR STR.
        ('{{ contains "cat" "catch" }} {{ "catch" | contains "dog" }}', "true false"),
        ('{{ hasPrefix "/dev/nvme" .d }} {{ hasSuffix "n1" .d }}', "true true"),
        ('{{ replace " " "-" "a b c" }} {{ "x.y" | replace "." "_" }}', "a-b-c x_y"),
        ('{{ regexMatch "^[a-z]+[0-9]$" "abc1" }} {{ regexMatch "^x" "abc" }}', "true false"),
        ('{{ regexFind "[0-9]+" "ab123c" }}', "123"),
        ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
        ('{{ quote "a\\"b" 1 }} {{ squote "x" }}', '"a\\"b" "1" \'x\''),
        ('{{ join "," .l }} {{ join "-" "solo" }}', "x,1,true solo"),
        (
            '{{ split "," "a,b" }} {{ (split "," "a,b")._1 }} {{ splitList "," "a,b" }}',
            "map[_0:a _1:b] b [a b]",
        ),
        ("{{ toString 1.5 }} {{ toString .l }}", "1.5 [x 1 <nil> true]"),
        ('{{ b64enc "hello" }} {{ b64dec "aGVsbG8=" }}', "aGVsbG8= hello"),
        # Sprig's b64dec returns the decoding error instead of failing.
        ('{{ b64dec "!!" }}', "illegal base64 data at input byte 0"),
        (
            '{{ repeat 3 "ab" }} {{ nospace "a b  c" }} {{ trunc 2 "hello" }} {{ cat "a" 1 "b" }}',
            "ababab abc he a 1 b",
        ),
        (
            '{{ sha256sum "abc" }}',
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ],
)
def test_sprig_string_functions(source: str, expected: str) -> None:
    assert render(source, {"d": "/dev/nvme0n1", "l": ["x", 1, None, True]}) == expected


def test_indent_and_nindent_prefix_every_line() -> None:
    data = {"s": "a\nb"}

    assert render("{{ indent 2 .s }}", data) == "  a\n  b"
    assert render("x:{{ nindent 4 .s }}", data) == "x:\n    a\n    b"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # default returns the given value unless it is empty.
        ('{{ default "d" .empty }} {{ default "d" .set }} {{ .empty | default "p" }}', "d val p"),
        ('{{ default "d" .zero }} {{ default "d" .none }}', "d d"),
        ('{{ empty "" }} {{ empty .set }} {{ coalesce .zero .empty "c" }}', "true false c"),
        ('{{ true | ternary "yes" "no" }} {{ ternary "yes" "no" false }}', "yes no"),
        ('{{ list 1 "a" }} {{ dict "b" 2 "a" 1 }}', "[1 a] map[a:1 b:2]"),
        ('{{ get (dict "a" 1) "a" }} {{ hasKey (dict "a" 1) "b" }}', "1 false"),
        ("{{ first .l }} {{ last .l }}", "1 3"),
        ('{{ add 1 2 "3" }} {{ add1 1 }} {{ sub 5 7 }} {{ mul 2 3 4 }}', "6 2 -2 24"),
        # Integer division truncates toward zero, as in Go.
        ("{{ div -7 2 }} {{ mod -7 2 }}", "-3 -1"),
        ('{{ int "42" }} {{ atoi "x" }}', "42 0"),
        ("{{ toJson .j }}", '{"a":null,"b":[1,2.5,"\\u003cx\\u003e"]}'),
    ],
)
def test_sprig_defaults_lists_dicts_and_numbers(source: str, expected: str) -> None:
    data = {
        "empty": "",
        "set": "val",
        "zero": 0,
        "none": None,
        "l": [1, 2, 3],
        "j": {"b": [1, 2.5, "<x>"], "a": None},
    }

    assert render(source, data) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ lower 5 }}", "expected string; found 5"),
        ("{{ lower .i }}", "wrong type for value; expected string; got int"),
        ("{{ lower .n }}", "invalid value; expected string"),
        ("{{ upper }}", "wrong number of args for upper: want 1 got 0"),
        ("{{ div 1 0 }}", "error calling div: runtime error: integer divide by zero"),
    ],
)
def test_function_argument_checks(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, {"i": 5, "n": None})

    assert caught.value.message == message
