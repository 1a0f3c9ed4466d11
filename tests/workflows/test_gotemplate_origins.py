"""Line origins: which template position each rendered output line came from."""

from __future__ import annotations

import pytest

from workflows.gotemplate import Template, TemplateError


def origins_by_line(source: str, data: object) -> list[tuple[str, tuple[int, int]]]:
    """Each output line next to its origin, so that a failing test shows both."""
    text, origins = Template(source).render_with_origins(data)
    lines = text.split("\n")
    assert len(origins) == len(lines)
    return list(zip(lines, origins, strict=True))


def test_plain_text_lines_map_to_themselves() -> None:
    source = "version: '0.1'\nname: plain\nglobal_timeout: 60"

    assert origins_by_line(source, {}) == [
        ("version: '0.1'", (1, 1)),
        ("name: plain", (2, 1)),
        ("global_timeout: 60", (3, 1)),
    ]


def test_the_line_after_a_final_newline_maps_past_the_text() -> None:
    assert origins_by_line("a\nb\n", {}) == [("a", (1, 1)), ("b", (2, 1)), ("", (3, 1))]


def test_empty_output_has_one_line_at_the_start() -> None:
    assert origins_by_line("{{ if .on }}\nnever\n{{ end }}", {"on": False}) == [("", (1, 1))]


def test_each_range_iteration_maps_to_the_body_lines() -> None:
    source = (
        "tasks:\n"  # 1
        "{{- range .disks }}\n"  # 2
        "  - name: wipe-{{ . }}\n"  # 3
        "    image: wipe\n"  # 4
        "{{- end }}\n"  # 5
        "done: true"  # 6
    )

    assert origins_by_line(source, {"disks": ["sda", "sdb"]}) == [
        ("tasks:", (1, 1)),
        ("  - name: wipe-sda", (3, 1)),
        ("    image: wipe", (4, 1)),
        ("  - name: wipe-sdb", (3, 1)),
        ("    image: wipe", (4, 1)),
        ("done: true", (6, 1)),
    ]


def test_trimmed_if_else_maps_to_the_branch_that_ran() -> None:
    source = (
        "actions:\n"  # 1
        '{{- if eq .arch "aarch64" }}\n'  # 2
        "  - name: grub-arm\n"  # 3
        "{{- else }}\n"  # 4
        "  - name: grub-x86\n"  # 5
        "    timeout: 90\n"  # 6
        "{{- end }}\n"  # 7
        "tail: 1"  # 8
    )

    assert origins_by_line(source, {"arch": "x86_64"}) == [
        ("actions:", (1, 1)),
        ("  - name: grub-x86", (5, 1)),
        ("    timeout: 90", (6, 1)),
        ("tail: 1", (8, 1)),
    ]
    assert origins_by_line(source, {"arch": "aarch64"})[1] == ("  - name: grub-arm", (3, 1))


def test_right_trim_starts_the_next_text_where_the_trimmed_space_ends() -> None:
    source = "{{ if true -}}\n\n    key: value\n{{- end }}"

    assert origins_by_line(source, {}) == [("key: value", (3, 5))]


def test_every_line_of_a_multi_line_value_maps_to_its_action() -> None:
    source = (
        "env:\n"  # 1
        "  CONTENTS: |\n"  # 2
        "    {{ .script }}\n"  # 3
        "  MODE: 0644"  # 4
    )

    assert origins_by_line(source, {"script": "#!/bin/sh\nset -e\nreboot"}) == [
        ("env:", (1, 1)),
        ("  CONTENTS: |", (2, 1)),
        ("    #!/bin/sh", (3, 1)),
        ("set -e", (3, 5)),
        ("reboot", (3, 5)),
        ("  MODE: 0644", (4, 1)),
    ]


def test_lines_an_nindent_pipeline_starts_map_to_the_action() -> None:
    source = "user_data:{{ .ud | nindent 2 }}\nnext: 1"

    assert origins_by_line(source, {"ud": "#cloud-config\nhostname: sm01"}) == [
        ("user_data:", (1, 1)),
        ("  #cloud-config", (1, 11)),
        ("  hostname: sm01", (1, 11)),
        ("next: 1", (2, 1)),
    ]


def test_a_line_started_by_an_action_maps_to_that_action() -> None:
    source = "head:{{ .newline }}{{ .key }}: value"

    assert origins_by_line(source, {"newline": "\n", "key": "b"}) == [
        ("head:", (1, 1)),
        ("b: value", (1, 20)),
    ]


def test_an_empty_value_does_not_start_a_line() -> None:
    source = "a: 1\n{{ .empty }}name: x"

    assert origins_by_line(source, {"empty": ""})[1] == ("name: x", (2, 13))


def test_invoked_templates_map_to_their_definition() -> None:
    source = (
        '{{ define "action" }}\n'  # 1
        "  - name: {{ . }}\n"  # 2
        "    timeout: 60{{ end -}}\n"  # 3
        "actions:\n"  # 4
        '{{- template "action" "one" }}\n'  # 5
        '{{- template "action" "two" }}'  # 6
    )

    assert origins_by_line(source, {}) == [
        ("actions:", (4, 1)),
        ("  - name: one", (2, 1)),
        ("    timeout: 60", (3, 1)),
        ("  - name: two", (2, 1)),
        ("    timeout: 60", (3, 1)),
    ]


def test_origins_render_the_same_text_as_render() -> None:
    source = "{{ range $i, $d := .disks }}{{ $i }}: {{ $d }}\n{{ end }}"
    data = {"disks": ["/dev/sda", "/dev/nvme0n1"]}
    template = Template(source)

    text, origins = template.render_with_origins(data)

    assert text == template.render(data)
    assert origins == [(1, 29), (1, 29), (2, 1)]


def test_errors_are_raised_as_by_render() -> None:
    with pytest.raises(TemplateError) as raised:
        Template("ok\n  {{ .missing }}").render_with_origins({})

    assert (raised.value.line, raised.value.column) == (2, 6)
