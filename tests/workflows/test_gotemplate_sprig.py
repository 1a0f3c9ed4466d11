# ruff: noqa: E501 - the case tables keep each template on one line, as written in Go
"""Sprig's string, list, dict and default functions, diffed against Go's own text/template.

Each case renders in the Python engine and in Go (tests/goracle/render.go: text/template with
missingkey=error and sprig.HermeticTxtFuncMap(), as Tinkerbell renders); the outputs must be
byte-identical, or both engines must refuse the template.
"""

from __future__ import annotations

import pytest

from tests.goracle import Case, Oracle, assert_same, go_oracle
from workflows.gotemplate import TemplateError, render
from workflows.gotemplate.functions import NON_HERMETIC, sprig_function_table

C = Case
WORDS = {"s": "hello world", "u": "héllo wörld ß", "e": "", "n": None, "i": 42, "f": 1.5}

STRINGS = [
    C("{{ hello }}"),
    C('{{ upper "abc" }} {{ lower "ÀBÇ" }} {{ upper "straße ǆ" }} {{ lower "İΣ" }}'),
    C('{{ title "hello wOrld-foo_bar ünï" }} {{ title "ǆx" }} {{ untitle "Hello World" }}'),
    C("{{ upper .i }}", WORDS),
    C("{{ upper .n }}", WORDS),
    C('{{ trim "  \\t x \\n" }}|{{ trim .u }}|{{ trim "\\u001c x \\u00a0" }}'),
    C('{{ trimAll "$" "$$5.00$" }} {{ trimall "ab" "abxba" }} {{ trimAll "" "x" }}'),
    C('{{ trimPrefix "ab" "abab" }} {{ trimSuffix "b" "abab" }}'),
    C('{{ contains "ell" .s }} {{ hasPrefix "he" .s }} {{ hasSuffix "ld" .s }}', WORDS),
    C('{{ "hello" | contains "ll" }} {{ contains "" "" }}'),
    C('{{ replace "l" "L" .s }} {{ replace "" "-" "abc" }}', WORDS),
    C('{{ repeat 3 "ab" }}|{{ repeat 0 "x" }}'),
    C('{{ repeat -1 "x" }}'),
    C('{{ repeat "3" "x" }}'),
    C('{{ repeat (add 1 2) "x" }}'),
    C("{{ repeat .i .s }}", {"i": 2, "s": "z"}),
    C(
        '{{ nospace " a b\\tc\\n" }}|{{ nospace "héllo" }}|{{ nospace "hé llo" }}|{{ nospace "à b" }}'
    ),
    C(
        '{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ trunc 50 "x" }}|{{ trunc -50 "x" }}'
    ),
    C('{{ trunc 2 "héllo" }}|{{ trunc -4 "héllo" }}|{{ trunc 0 "x" }}'),
    C(
        '{{ substr 1 3 "hello" }}|{{ substr -1 2 "hello" }}|{{ substr 2 -1 "hello" }}|{{ substr 2 99 "hello" }}'
    ),
    C('{{ substr 3 1 "hello" }}'),
    C('{{ substr -1 9 "hello" }}'),
    C('{{ substr 9 -1 "hello" }}'),
    C(
        '{{ abbrev 5 "hello world" }}|{{ abbrev 3 "hello" }}|{{ abbrev 20 "hello" }}|{{ abbrev 4 "" }}'
    ),
    C(
        '{{ abbrevboth 5 10 "1234 5678 9123" }}|{{ abbrevboth 1 6 "hello world" }}|{{ abbrevboth 0 4 "hello world" }}'
    ),
    C(
        '{{ abbrevboth 10 8 "abcdefghijklmnopqrstuvwxyz" }}|{{ abbrevboth 30 9 "abcdefghijklmnopqrstuvwxyz" }}'
    ),
    C('{{ initials "First Try" }}|{{ initials "héllo wörld" }}|{{ initials "  " }}'),
    C('{{ swapcase "Hello World ǅx ßA" }}|{{ swapcase "" }}'),
    C(
        '{{ snakecase "FirstName" }} {{ snakecase "HTTPServer" }} {{ snakecase "Bld4Floor" }} {{ snakecase "HTTP2xx" }}'
    ),
    C(
        '{{ snakecase "a1" }} {{ snakecase "some-mixed_string With spaces" }} {{ snakecase "__x" }} {{ snakecase "x.y" }}'
    ),
    C(
        '{{ kebabcase "FirstName" }} {{ kebabcase "ID3Tag" }} {{ kebabcase "already-kebab" }} {{ kebabcase "A" }}'
    ),
    C(
        '{{ camelcase "http_server" }} {{ camelcase "_x" }} {{ camelcase "_" }} {{ camelcase "a" }} {{ camelcase "hello  world" }}'
    ),
    C(
        '{{ camelcase "some-mixed_string With spaces" }}|{{ camelcase "" }}|{{ camelcase "ÉCOLE_été" }}'
    ),
    C('{{ wrap 5 "Hello world, this is a test" }}'),
    C('{{ wrap 0 "a b" }}|{{ wrap 3 "abcdefgh ij" }}|{{ wrap 10 "" }}'),
    C('{{ wrapWith 5 "\\t" "Hello world" }}|{{ wrapWith 3 "" "abcdefgh" }}'),
    C('{{ quote "a" 1 .n "b\\"c" 2.5 }}|{{ quote }}|{{ quote "é\\x01" }}', WORDS),
    C('{{ squote "a" 1 .n true }}|{{ squote (list 1 2) }}', WORDS),
    C('{{ cat "a" 1 .n "b" }}|{{ cat }}|{{ cat (list 1 "x") (dict "k" 1) }}', WORDS),
    C('{{ indent 2 "a\\nb" }}|{{ nindent 3 "x" }}|{{ indent 0 "" }}'),
    C('{{ indent -1 "a" }}'),
    C('{{ plural "one" "many" 1 }} {{ plural "one" "many" 2 }} {{ plural "one" "many" 0 }}'),
    C(
        '{{ toString 1 }} {{ toString 1.5 }} {{ toString .n }} {{ toString (list 1 "a") }} {{ toString true }}',
        WORDS,
    ),
    C(
        '{{ $p := split "," "a,b,,c" }}{{ $p._0 }}-{{ $p._2 }}-{{ $p._3 }} {{ $p | typeOf }} {{ $p }}'
    ),
    C('{{ split "" "héy" }} {{ split "," "" }}'),
    C(
        '{{ splitn "," 2 "a,b,c" }} {{ splitn "," 0 "a,b" }} {{ splitn "," -1 "a,b" }} {{ splitn "" 2 "abc" }}'
    ),
    C(
        '{{ splitList "," "a,b,c" }} {{ splitList "," "" | len }} {{ splitList "" "ab" }} {{ splitList "," "a" | typeOf }}'
    ),
    C(
        '{{ join "-" (list 1 "a" .n 2.5) }}|{{ join "," "x" }}|{{ join "," .n }}|{{ join "," (splitList "." "a.b") }}',
        WORDS,
    ),
    C(
        '{{ toStrings (list 1 .n "a") }} {{ toStrings "x" | typeOf }} {{ toStrings .n | len }}',
        WORDS,
    ),
    C(
        '{{ sortAlpha (list "b" "a" 10 2 "B") }} {{ sortAlpha "x" }} {{ sortAlpha .n }} {{ sortAlpha (dict "a" 1) }}',
        WORDS,
    ),
    C('{{ "x" | upper | repeat 2 | printf "<%s>" }}'),
    C('{{ toString (splitList "," "a,b") }} {{ toString (until 3) }}'),
]

LISTS = [
    C('{{ list }} {{ list 1 .n "a" }} {{ tuple 1 2 | typeOf }}', WORDS),
    C(
        '{{ append (list 1) 2 }} {{ push (list) "x" }} {{ mustAppend (splitList "," "a") "b" }} {{ prepend (list 1) 0 }}'
    ),
    C("{{ append .n 1 }}", WORDS),
    C('{{ append "abc" 1 }}'),
    C("{{ mustPrepend 3 1 }}"),
    C(
        '{{ first (list 1 2) }} {{ first (list) }} {{ last (list 1 2) }} {{ last (list) }} {{ first (splitList "," "x,y") }}'
    ),
    C('{{ first "abc" }}'),
    C("{{ mustFirst .n }}", WORDS),
    C(
        "{{ rest (list 1 2 3) }} {{ rest (list) }} {{ rest (list) | toJson }} {{ initial (list 1 2 3) }} {{ initial (list) | toJson }}"
    ),
    C("{{ mustRest (list 1) | toJson }} {{ mustInitial (list 1) | toJson }}"),
    C(
        '{{ reverse (list 1 2 3) }} {{ reverse (list) | toJson }} {{ mustReverse (splitList "," "a,b") | typeOf }}'
    ),
    C('{{ uniq (list 1 1 "1" 2 1.0 (list 1) (list 1) .n .n) }}', WORDS),
    C(
        '{{ without (list 1 2 3 2) 2 }} {{ without (list 1 2) }} {{ mustWithout (list "a" "b") "a" "b" | toJson }}'
    ),
    C(
        '{{ has 1 (list 1 2) }} {{ has "1" (list 1 2) }} {{ has 1 .n }} {{ has (list 1) (list (list 1)) }}',
        WORDS,
    ),
    C('{{ has 1 "abc" }}'),
    C(
        '{{ slice (list 1 2 3 4) 1 3 }} {{ slice (list 1 2 3) 1 }} {{ slice (list 1 2 3) }} {{ slice (list) }} {{ slice (list 1 2) "1" }}'
    ),
    C('{{ slice (splitList "," "a,b,c") 1 | typeOf }}'),
    C("{{ slice (list 1 2) 1 5 }}"),
    C("{{ mustSlice (list 1 2) 2 1 }}"),
    C(
        '{{ concat (list 1) (list 2 3) (splitList "," "x") }} {{ concat | toJson }} {{ concat (list) | toJson }}'
    ),
    C('{{ concat (list 1) "x" }}'),
    C(
        "{{ chunk 2 (list 1 2 3 4 5) }} {{ chunk 3 (list) | toJson }} {{ chunk 5 (list 1) | typeOf }}"
    ),
    C("{{ chunk 0 (list 1 2) }}"),
    C("{{ mustChunk -1 (list) }}"),
    C('{{ compact (list 0 "" .n false 1 "a" (list) (dict)) }}', WORDS),
    C("{{ until 3 }} {{ until -3 }} {{ until 0 | toJson }} {{ until 2 | typeOf }}"),
    C(
        "{{ untilStep 0 10 3 }} {{ untilStep 10 0 -4 }} {{ untilStep 0 10 -1 }} {{ untilStep 5 1 1 }} {{ untilStep 1 1 0 }}"
    ),
    C("{{ range $i, $v := until 3 }}{{ $i }}{{ $v }},{{ end }}"),
    C('{{ index (until 5) 2 }} {{ len (splitList "," "a,b") }}'),
]

DICTS = [
    C(
        '{{ $d := dict "a" 1 "b" "x" }}{{ $d }} {{ dict "a" }} {{ dict 1 2 .n 3 }} {{ dict | len }}',
        WORDS,
    ),
    C(
        '{{ get (dict "a" 1) "a" }} {{ get (dict "a" 1) "z" | quote }} {{ get .n "a" | quote }}',
        WORDS,
    ),
    C('{{ get (split "," "a") "_0" }}'),
    C('{{ get "abc" "a" }}'),
    C(
        '{{ $d := dict "a" 1 }}{{ set $d "b" 2 }} {{ $d }} {{ unset $d "a" }} {{ $d }} {{ unset .n "a" | toJson }}',
        WORDS,
    ),
    C('{{ set .n "a" 1 }}', WORDS),
    C('{{ hasKey (dict "a" .n) "a" }} {{ hasKey (dict) "a" }} {{ hasKey .n "a" }}', WORDS),
    C('{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) }} {{ pluck "a" | toJson }}'),
    C(
        '{{ keys (dict "b" 1 "a" 2) (dict "c" 3) | sortAlpha }} {{ keys | toJson }} {{ keys (dict "a" 1) | typeOf }}'
    ),
    C(
        '{{ pick (dict "a" 1 "b" 2 "c" 3) "a" "c" "z" }} {{ omit (dict "a" 1 "b" 2) "a" }} {{ pick .n "a" | toJson }}',
        WORDS,
    ),
    C('{{ pick (dict "a" 1) 1 }}'),
    C('{{ values (dict "a" 1) }} {{ values (dict) | toJson }}'),
    C(
        '{{ $d := dict "a" 1 "n" (dict "x" 1) }}{{ merge $d (dict "a" 2 "b" 3 "n" (dict "x" 2 "y" 3)) }} {{ $d }}'
    ),
    C(
        '{{ merge (dict "a" "" "b" 0 "l" (list) "m" (list 1)) (dict "a" "x" "b" 5 "l" (list 9) "m" (list 2)) }}'
    ),
    C(
        '{{ mergeOverwrite (dict "a" 1 "l" (list 1) "s" "x" "z" 5) (dict "a" 2 "l" (list) "s" (dict "k" 1) "z" .n) }}',
        WORDS,
    ),
    C('{{ mustMerge .n (dict "a" 1) }} {{ merge .n | toJson }} {{ merge (dict) (dict) }}', WORDS),
    C(
        '{{ mustMergeOverwrite (dict "n" (dict "a" 1 "b" 2)) (dict "n" (dict "a" 9)) (dict "x" 1) }}'
    ),
    C('{{ merge (dict) "x" }}'),
    C(
        '{{ $a := dict "k" (list 1) }}{{ $b := deepCopy $a }}{{ $_ := set $b "z" 1 }}{{ $a }} {{ $b }} {{ deepCopy 5 }} {{ mustDeepCopy .n }}',
        WORDS,
    ),
    C(
        '{{ dig "a" "b" "def" (dict "a" (dict "b" 7)) }} {{ dig "a" "z" "def" (dict "a" (dict "b" 7)) }} {{ dig "x" "d" (dict) }}'
    ),
    C('{{ dig "a" "b" "def" (dict "a" 1) }}'),
    C('{{ dig "a" "def" "notamap" }}'),
    C('{{ dig "a" (dict) }}'),
    C(
        "{{ dig .cfg.path .cfg.default .cfg.data }}",
        {"cfg": {"path": "k", "default": "d", "data": {"k": [1]}}},
    ),
    C('{{ (dict "a" 1).a }} {{ range $k, $v := dict "b" 2 "a" 1 }}{{ $k }}={{ $v }};{{ end }}'),
]

DEFAULTS = [
    C(
        '{{ default "d" "" }} {{ default "d" "x" }} {{ default "d" 0 }} {{ default "d" .n }} {{ default "d" }} {{ default "d" (list) }} {{ default "d" false }}',
        WORDS,
    ),
    C('{{ .missing | default "d" }}', WORDS),
    C(
        '{{ empty "" }} {{ empty 0 }} {{ empty 0.0 }} {{ empty .n }} {{ empty (dict) }} {{ empty (list 0) }} {{ empty false }} {{ empty (semver "1.0.0") }}',
        WORDS,
    ),
    C('{{ coalesce 0 "" .n "x" 1 }} {{ coalesce }} {{ coalesce 0 }}', WORDS),
    C('{{ all 1 "a" true }} {{ all 1 0 }} {{ all }} {{ any 0 "" }} {{ any 0 1 }} {{ any }}'),
    C('{{ ternary "y" "n" true }} {{ ternary "y" "n" false }} {{ true | ternary 1 2 }}'),
    C('{{ ternary "y" "n" 1 }}'),
    C(
        '{{ typeOf 1 }} {{ typeOf 1.5 }} {{ typeOf "s" }} {{ typeOf .n }} {{ typeOf (list) }} {{ typeOf (dict) }} {{ typeOf true }} {{ typeOf (int64 1) }}',
        WORDS,
    ),
    C(
        '{{ typeOf (toDate "2006" "2020") }} {{ typeOf (semver "1.2.3") }} {{ typeOf (chunk 1 (list 1)) }} {{ typeOf (rest (list)) }}'
    ),
    C(
        '{{ typeIs "int" 1 }} {{ typeIs "int64" 1 }} {{ typeIsLike "semver.Version" (semver "1.0.0") }} {{ typeIsLike "string" "x" }}'
    ),
    C(
        '{{ kindOf 1 }} {{ kindOf "s" }} {{ kindOf .n }} {{ kindOf (list) }} {{ kindOf (dict) }} {{ kindOf (add 1 1) }} {{ kindOf 2.5 }} {{ kindOf (semver "1.0.0") }}',
        WORDS,
    ),
    C(
        '{{ kindOf (toDate "2006" "2020") }} {{ kindIs "map" (dict) }} {{ kindIs "slice" "x" }} {{ kindOf (splitList "a" "b") }}'
    ),
    C(
        '{{ deepEqual 1 1 }} {{ deepEqual 1 (int64 1) }} {{ deepEqual 1 1.0 }} {{ deepEqual (list 1 (dict "a" 2)) (list 1 (dict "a" 2)) }} {{ deepEqual (list) (rest (list)) }}'
    ),
    C(
        '{{ deepEqual (splitList "," "a") (list "a") }} {{ deepEqual .n .n }} {{ deepEqual (dict) (dict) }}',
        WORDS,
    ),
    C('{{ fail "boom" }}'),
    C('{{ if false }}{{ fail "never" }}{{ end }}ok'),
]

ALL_CASES = STRINGS + LISTS + DICTS + DEFAULTS


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    go_oracle()
    instance = Oracle()
    instance.prefetch(ALL_CASES)
    return instance


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_python_and_go_agree(oracle: Oracle, case: Case) -> None:
    assert_same(oracle, case)


def test_every_hermetic_sprig_function_is_defined() -> None:
    # 193 = Sprig v3.2.3's genericMap less its 17 non-hermetic names; test_gotemplate_sprig_more
    # checks each name against Go's own map.
    table = sprig_function_table()
    assert len(table) == 193
    assert not table.keys() & NON_HERMETIC


@pytest.mark.parametrize("name", sorted(NON_HERMETIC))
def test_non_hermetic_functions_are_not_defined(name: str) -> None:
    source = f'line one\n  {{{{ "x" }}}} {{{{ {name} "a" }}}}'

    with pytest.raises(TemplateError) as caught:
        render(source, {})

    assert caught.value.line == 2
    assert caught.value.column == 16
    assert f'function "{name}" not defined' in caught.value.message


@pytest.mark.parametrize("name", ["env", "expandenv", "getHostByName", "now", "uuidv4"])
def test_go_refuses_the_non_hermetic_functions_too(name: str) -> None:
    go_oracle()
    oracle = Oracle()
    case = Case(f'{{{{ {name} "HOME" }}}}')
    assert "not defined" in oracle.answer(case).error
    assert_same(oracle, case)
