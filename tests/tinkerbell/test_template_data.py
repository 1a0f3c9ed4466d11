"""Templates rendered against Tinkerbell Hardware, and problems reported at template lines."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tinkerbell.template_data import template_data
from workflows.gotemplate import TemplateError, render
from workflows.rendering import (
    TemplateProblem,
    TemplateRenderError,
    render_workflow,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tinkerbell"
SM01_MAC = "3c:ec:ef:4a:10:02"


def sm01() -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "sm01.yaml").read_text())


def sm01_data(**hardware_map: str) -> dict[str, Any]:
    return template_data(sm01(), hardware_map or {"device_1": SM01_MAC})


def problems(body: str, data: dict[str, Any] | None = None) -> list[tuple[int, int, str]]:
    with pytest.raises(TemplateRenderError) as raised:
        render_workflow(body, data if data is not None else sm01_data())
    return [(p.line, p.column, p.message) for p in raised.value.problems]


# --- what a template sees ---------------------------------------------------------------------


def test_template_data_follows_tinkerbells_go_structs() -> None:
    data = sm01_data()

    assert data["device_1"] == SM01_MAC
    assert data["Hardware"]["Disks"] == ["/dev/nvme0n1", "/dev/nvme1n1"]
    assert render("{{ (index .Hardware.Interfaces 0).DHCP.IP.Address }}", data) == "10.40.7.21"
    assert render("{{ (index .Hardware.Interfaces 1).DHCP.VLANID }}", data) == "310"
    assert render("{{ .Hardware.Metadata.Instance.Hostname }}", data) == "sm01"
    assert render("{{ .Hardware.Metadata.Instance.OperatingSystem.OsSlug }}", data) == (
        "ubuntu_22_04"
    )
    assert render("{{ .Hardware.Metadata.Facility.FacilityCode }}", data) == "fra2"
    assert render("{{ .Hardware.UserData }}", data).startswith("#cloud-config\nhostname: sm01")


def test_template_data_keeps_the_hardware_document_under_lower_case_hardware() -> None:
    data = sm01_data()

    assert render("{{ .hardware.spec.metadata.instance.hostname }}", data) == "sm01"
    assert render("{{ .hardware.metadata.labels.rack }}", data) == "b07"
    # Tinkerbell's typed object by JSON names: the struct-valued fields Go's omitempty keeps
    # are there ({}), creationTimestamp is null, and zero values omitempty drops are gone.
    hardware = data["hardware"]
    assert hardware["status"] == {}
    assert hardware["spec"]["auto"] == {}
    assert hardware["metadata"]["creationTimestamp"] is None
    assert hardware["spec"]["disks"] == sm01()["spec"]["disks"]
    assert hardware["spec"]["metadata"]["instance"]["allow_pxe"] is True
    assert "always_pxe" not in hardware["spec"]["metadata"]["instance"]
    assert hardware["spec"]["bmcRef"] == sm01()["spec"]["bmcRef"]


def test_empty_go_struct_fields_are_zero_values_not_missing_keys() -> None:
    data = sm01_data()
    storage_nic = data["Hardware"]["Interfaces"][1]["DHCP"]

    assert storage_nic["IP"]["Gateway"] == ""
    assert storage_nic["IP"]["Family"] == 0
    assert storage_nic["NameServers"] == []
    assert data["Hardware"]["Metadata"]["Instance"]["Rescue"] is False
    assert data["Hardware"]["Metadata"]["Instance"]["IpxeScriptURL"] == ""
    assert render("[{{ (index .Hardware.Interfaces 1).DHCP.IP.Gateway }}]", data) == "[]"


def test_absent_go_pointers_are_nil() -> None:
    document = {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Hardware",
        "metadata": {"name": "bare"},
        "spec": {"interfaces": [{"dhcp": {"mac": "52:54:00:aa:bb:01"}}]},
    }

    data = template_data(document, {"device_1": "52:54:00:aa:bb:01"})

    assert data["Hardware"]["Metadata"]["Instance"] is None
    assert data["Hardware"]["Metadata"]["Facility"] is None
    assert data["Hardware"]["Interfaces"][0]["Netboot"] is None
    assert data["Hardware"]["Interfaces"][0]["DHCP"]["IP"] is None
    assert data["Hardware"]["Disks"] == []
    assert render("{{ if .Hardware.Metadata.Instance }}yes{{ else }}no{{ end }}", data) == "no"
    with pytest.raises(TemplateError, match="nil pointer evaluating"):
        render("{{ .Hardware.Metadata.Instance.Hostname }}", data)


def test_the_hardware_map_cannot_replace_the_hardware() -> None:
    data = template_data(sm01(), {"device_1": SM01_MAC, "hardware": "spoofed"})

    assert data["hardware"]["metadata"]["name"] == "sm01"


# --- a realistic template ------------------------------------------------------------------------


def test_ubuntu_template_renders_for_sm01_exactly() -> None:
    body = (FIXTURES / "ubuntu-jammy.tmpl").read_text()

    rendered = render_workflow(body, sm01_data())

    assert rendered.text == (FIXTURES / "ubuntu-jammy.sm01.yaml").read_text()
    assert rendered.as_json() == json.loads((FIXTURES / "ubuntu-jammy.sm01.json").read_text())
    assert (rendered.name, rendered.global_timeout) == ("ubuntu-jammy", 1800)


def test_ubuntu_template_merges_task_settings_into_each_action() -> None:
    body = (FIXTURES / "ubuntu-jammy.tmpl").read_text()

    stream, netplan, hostname, kexec = render_workflow(body, sm01_data()).tasks[0].actions

    assert stream.environment["MIRROR"] == "http://10.40.0.10:8080"
    assert stream.volumes[0] == "/dev:/dev"
    assert netplan.environment["DEST_DISK"] == "/dev/nvme0n1p1"
    assert "      addresses:\n        - 10.40.7.21/24\n" in netplan.environment["CONTENTS"]
    assert hostname.environment["CONTENTS"] == "sm01"
    assert (kexec.pid, kexec.environment["BLOCK_DEVICE"]) == ("host", "/dev/nvme0n1p1")


def test_ubuntu_template_follows_the_architecture() -> None:
    body = (FIXTURES / "ubuntu-jammy.tmpl").read_text()
    document = sm01()
    document["spec"]["interfaces"][0]["dhcp"]["arch"] = "aarch64"

    rendered = render_workflow(body, template_data(document, {"device_1": SM01_MAC}))

    stream, _, _, kexec = rendered.tasks[0].actions
    assert stream.environment["IMG_URL"].endswith("/jammy-server-cloudimg-arm64.raw.gz")
    assert "console=ttyAMA0,115200" in kexec.environment["CMD_LINE"]
    text_lines = rendered.text.splitlines()
    assert len(text_lines) == len((FIXTURES / "ubuntu-jammy.sm01.yaml").read_text().splitlines())


# --- problems, at the template line they come from ----------------------------------------------

HEAD = """\
version: "0.1"
name: checks
global_timeout: 600
tasks:
  - name: install
    worker: "{{ .device_1 }}"
    actions:
"""
ACTION = """\
      - name: {name}
        image: quay.io/tinkerbell/actions/image2disk:v1.0.0
        timeout: 60
{extra}"""
# Two disks: each range iteration renders three lines from the same three template lines.
RANGE_OVER_DISKS = """\
{{- range $i, $disk := .Hardware.Disks }}
      - name: wipe-{{ $i }}
        image: quay.io/tinkerbell/actions/wipe:v1.0.0
        timeout: 60
{{- end }}
"""
# A false if: its four template lines render as none.
DROPPED_BLOCK = """\
{{- if eq (index .Hardware.Interfaces 0).DHCP.Arch "aarch64" }}
      - name: arm-only
        image: quay.io/tinkerbell/actions/grub-arm:v1.0.0
        timeout: 60
{{- end }}
"""


def test_yaml_syntax_error_is_reported_at_the_template_line() -> None:
    body = HEAD + RANGE_OVER_DISKS + "      - name: broken\n        image: alpine: 3\n"

    # Rendered, the broken line is line 15; in the template it is line 14.
    assert problems(body) == [(14, 22, "YAML: mapping values are not allowed here")]


def test_template_syntax_error_is_reported_where_it_is() -> None:
    body = HEAD + RANGE_OVER_DISKS + "      - name: {{ .device_1 }\n"

    assert problems(body) == [(13, 28, 'unexpected "}" in operand')]


def test_unknown_function_is_reported_where_it_is_called() -> None:
    body = HEAD + ACTION.format(name="{{ basename .device_1 }}", extra="")

    assert problems(body) == [(8, 18, 'function "basename" not defined')]


def test_missing_key_is_reported_at_the_field() -> None:
    body = (
        HEAD
        + DROPPED_BLOCK
        + ACTION.format(
            name="write", extra="        environment:\n          DISK: {{ .Hardware.Disk }}\n"
        )
    )

    # Rendered, the line is 12; the false if dropped five template lines.
    assert problems(body) == [(17, 20, 'map has no entry for key "Disk"')]


def test_missing_hardware_map_key_is_reported_at_the_field() -> None:
    body = HEAD.replace(".device_1", ".device_2") + ACTION.format(name="write", extra="")

    assert problems(body) == [(6, 17, 'map has no entry for key "device_2"')]


def test_duplicate_task_name_is_reported_at_the_repeated_name() -> None:
    body = (
        HEAD.replace("tasks:\n", "tasks:\n{{- range .Hardware.Disks }}\n").replace(
            ".device_1", "$.device_1"
        )
        + ACTION.format(name="write", extra="")
        + "{{- end }}\n"
    )

    # The second iteration's task name is rendered line 11, from template line 6.
    assert problems(body) == [(6, 11, "duplicate task name 'install'")]


def test_duplicate_action_name_is_reported_at_the_repeated_name() -> None:
    body = (
        HEAD
        + RANGE_OVER_DISKS.replace("wipe-{{ $i }}", "wipe")
        + ACTION.format(name="stream", extra="")
    )

    # Rendered, the second "wipe" is line 11; both iterations come from template line 9.
    assert problems(body) == [(9, 15, "duplicate action name 'wipe' in task 'install'")]


def test_empty_rendered_worker_is_reported_at_the_worker() -> None:
    rescue_task = (
        "{{- if .Hardware.Metadata.Instance.Rescue }}\n"
        "  - name: rescue\n"
        '    worker: "{{ .device_1 }}"\n'
        "    actions: []\n"
        "{{- end }}\n"
    )
    body = HEAD.replace("tasks:\n", "tasks:\n" + rescue_task) + ACTION.format(
        name="write", extra=""
    )

    assert problems(body, sm01_data(device_1="")) == [(11, 13, "task 'install'.worker is empty")]


def test_bad_image_reference_is_reported_at_the_image() -> None:
    body = (
        HEAD
        + DROPPED_BLOCK
        + ACTION.format(name="write", extra="").replace(
            "quay.io/tinkerbell/actions/image2disk:v1.0.0",
            "quay.io/Tinkerbell/image2disk:v1 latest",
        )
    )

    assert problems(body) == [
        (
            14,
            16,
            "action 'write': 'quay.io/Tinkerbell/image2disk:v1 latest' is not a valid image "
            "reference",
        )
    ]


def warnings(body: str) -> list[tuple[int, int, str]]:
    rendered = render_workflow(body, sm01_data())
    return [(w.line, w.column, w.message) for w in rendered.warnings]


def test_missing_timeout_takes_the_default_with_a_warning_at_the_action() -> None:
    body = (
        HEAD
        + RANGE_OVER_DISKS
        + ACTION.format(name="write", extra="").replace("        timeout: 60\n", "")
    )

    assert warnings(body) == [(13, 9, "action 'write' has no 'timeout'; using 3600 s")]
    assert render_workflow(body, sm01_data()).tasks[0].actions[-1].timeout == 3600


def test_missing_global_timeout_is_the_sum_of_the_actions_with_a_warning() -> None:
    body = (
        "{{/*\n  Installs Ubuntu; global_timeout comes from the caller.\n*/ -}}\n"
        + HEAD.replace("global_timeout: 600\n", "")
        + ACTION.format(name="write", extra="")
    )
    rendered = render_workflow(body, sm01_data())

    assert rendered.global_timeout == sum(a.timeout for t in rendered.tasks for a in t.actions)
    assert warnings(body) == [
        (
            4,
            1,
            f"the workflow has no 'global_timeout'; using {rendered.global_timeout} s, the sum "
            "of its actions' timeouts",
        )
    ]


def test_unknown_key_is_reported_at_the_key() -> None:
    body = HEAD + RANGE_OVER_DISKS + ACTION.format(name="write", extra="        retries: 3\n")

    assert problems(body) == [(16, 9, "unknown key 'retries' in action 'write'")]


def test_every_problem_of_a_rendering_is_reported() -> None:
    body = HEAD + RANGE_OVER_DISKS + ACTION.format(name="wipe-0", extra="        retries: 3\n")

    assert [(line, column) for line, column, _ in problems(body)] == [(13, 15), (16, 9)]


def test_problems_read_as_line_column_message() -> None:
    assert str(TemplateProblem(3, 7, "boom")) == "3:7: boom"


def test_rendering_does_not_change_the_data() -> None:
    data = sm01_data()
    before = copy.deepcopy(data)

    render_workflow((FIXTURES / "ubuntu-jammy.tmpl").read_text(), data)

    assert data == before


def test_unquoted_environment_values_keep_their_text() -> None:
    body = HEAD + ACTION.format(name="write", extra="        environment:\n          MODE: 0644\n")

    action = render_workflow(body, sm01_data()).tasks[0].actions[0]

    assert action.environment["MODE"] == "0644"
