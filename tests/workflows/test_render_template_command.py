"""``manage.py render_template``: a template rendered against a Hardware document, no database."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tinkerbell"
UBUNTU = FIXTURES / "ubuntu-jammy.tmpl"
SM01 = FIXTURES / "sm01.yaml"
GPU07 = FIXTURES / "provision-gpu07.yaml"

SMALL_TEMPLATE = """\
version: "0.1"
name: small
global_timeout: 300
tasks:
  - name: install
    worker: "{{ .device_1 }}"
    actions:
      - name: write
        image: quay.io/tinkerbell/actions/writefile:v1.0.0
        timeout: 60
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
          PEER: "{{ .device_2 }}"
"""


def render(*args: str | Path) -> str:
    out = io.StringIO()
    call_command("render_template", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refusal(*args: str | Path) -> list[str]:
    """Run the command expecting exit status 1; return its stderr lines."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as raised:
        call_command("render_template", *map(str, args), stdout=out, stderr=err)
    assert raised.value.code == 1
    assert out.getvalue() == ""
    return err.getvalue().splitlines()


def template_document(body: str, *, name: str = "ubuntu-jammy") -> str:
    """``body`` as a Tinkerbell Template document: spec.data starts on file line 8."""
    data = "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
    return (
        "# Applied with kubectl.\n"
        "apiVersion: tinkerbell.org/v1alpha1\n"
        "kind: Template\n"
        "metadata:\n"
        f"  name: {name}\n"
        "spec:\n"
        "  data: |\n" + data
    )


def test_prints_the_rendered_yaml() -> None:
    output = render(UBUNTU, "--hardware", SM01)

    assert output == (FIXTURES / "ubuntu-jammy.sm01.yaml").read_text()


def test_prints_json_with_task_settings_merged_into_actions() -> None:
    output = render(UBUNTU, "--hardware", SM01, "--format", "json")

    assert json.loads(output) == json.loads((FIXTURES / "ubuntu-jammy.sm01.json").read_text())
    first_action = json.loads(output)["tasks"][0]["actions"][0]
    assert first_action["environment"]["MIRROR"] == "http://10.40.0.10:8080"
    assert first_action["volumes"][:1] == ["/dev:/dev"]


def test_device_1_defaults_to_the_first_interface_mac() -> None:
    spec = yaml.safe_load(render(UBUNTU, "--hardware", SM01))

    assert spec["tasks"][0]["worker"] == "3c:ec:ef:4a:10:02"


def test_map_sets_the_hardware_map(tmp_path: Path) -> None:
    template = tmp_path / "small.tmpl"
    template.write_text(SMALL_TEMPLATE)

    output = render(
        template,
        "--hardware",
        SM01,
        "--map",
        "device_1=3c:ec:ef:4a:10:03",
        "--map",
        "device_2=3c:ec:ef:4a:10:02",
        "--format",
        "json",
    )

    task = json.loads(output)["tasks"][0]
    assert task["worker"] == "3c:ec:ef:4a:10:03"
    assert task["actions"][0]["environment"] == {
        "DEST_DISK": "/dev/nvme0n1",
        "PEER": "3c:ec:ef:4a:10:02",
    }


def test_renders_the_template_document_of_a_multi_document_file() -> None:
    spec = yaml.safe_load(render(GPU07, "--hardware", GPU07))

    assert spec["name"] == "debian-bookworm"
    assert spec["tasks"][0]["worker"] == "52:54:00:a7:00:01"
    stream, kexec = spec["tasks"][0]["actions"]
    assert stream["environment"]["IMG_URL"].endswith("/debian-12-genericcloud-arm64.raw.gz")
    assert kexec["environment"]["BLOCK_DEVICE"] == "/dev/sda1"


def test_picks_one_hardware_of_several_by_name() -> None:
    spec = yaml.safe_load(
        render(UBUNTU, "--hardware", FIXTURES / "rack-c12.yaml", "--hardware-name", "c12-u03")
    )

    assert spec["tasks"][0]["worker"] == "52:54:00:c1:20:03"
    assert spec["tasks"][0]["actions"][0]["environment"]["DEST_DISK"] == "/dev/sda"


def test_problems_are_printed_as_file_line_column(tmp_path: Path) -> None:
    template = tmp_path / "small.tmpl"
    template.write_text(SMALL_TEMPLATE.replace("timeout: 60", "timeout: soon"))

    lines = refusal(template, "--hardware", SM01, "--map", "device_1=x", "--map", "device_2=y")

    assert lines == [
        f"{template}:10:18: action 'write'.timeout must be a positive number of seconds, not 'soon'"
    ]


def test_each_problem_gets_its_own_line(tmp_path: Path) -> None:
    template = tmp_path / "small.tmpl"
    template.write_text(
        SMALL_TEMPLATE.replace("timeout: 300", "timeouts: 300").replace("name: write", "name: w")
        + "        retries: 3\n"
    )

    lines = refusal(template, "--hardware", SM01, "--map", "device_1=x", "--map", "device_2=y")

    assert lines == [
        f"{template}:3:1: unknown key 'global_timeouts' in the workflow",
        f"{template}:14:9: unknown key 'retries' in action 'w'",
    ]


def test_problems_in_a_template_document_point_into_the_file(tmp_path: Path) -> None:
    body = UBUNTU.read_text().replace(".Hardware.Metadata.Instance.Hostname", ".Hardware.Name")
    document = tmp_path / "template.yaml"
    document.write_text(template_document(body))
    body_line = next(n for n, line in enumerate(body.splitlines(), 1) if ".Hardware.Name" in line)

    lines = refusal(document, "--hardware", SM01)

    # spec.data's first line is file line 8 and its lines are indented by four spaces.
    assert lines == [f'{document}:{body_line + 7}:28: map has no entry for key "Name"']
    file_line = document.read_text().splitlines()[body_line + 6]
    assert file_line.index(".Hardware.Name") + 1 == 28


def test_syntax_errors_in_a_template_document_point_into_the_file(tmp_path: Path) -> None:
    document = tmp_path / "template.yaml"
    document.write_text(template_document(SMALL_TEMPLATE.replace("{{ .device_2 }}", "{{ .x ")))

    lines = refusal(document, "--hardware", SM01)

    # Body line 13, column 24 is file line 20, column 28.
    assert lines == [f"{document}:20:28: unterminated quoted string"]


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tmpl"

    assert refusal(missing, "--hardware", SM01) == [
        f"{missing}: cannot read: No such file or directory"
    ]
    assert refusal(UBUNTU, "--hardware", missing) == [
        f"{missing}: cannot read: No such file or directory"
    ]


def test_a_map_entry_without_equals_sign_is_refused() -> None:
    lines = refusal(UBUNTU, "--hardware", SM01, "--map", "device_1")

    assert lines == ["--map 'device_1': expected KEY=VALUE, e.g. device_1=52:54:00:12:34:56"]


def test_a_hardware_file_without_hardware_is_refused(tmp_path: Path) -> None:
    hardware = tmp_path / "empty.yaml"
    hardware.write_text("apiVersion: tinkerbell.org/v1alpha1\nkind: Template\nmetadata: {}\n")

    assert refusal(UBUNTU, "--hardware", hardware) == [
        f"{hardware}: no Hardware document (kind: Hardware)"
    ]


def test_several_hardware_documents_need_a_name() -> None:
    lines = refusal(UBUNTU, "--hardware", FIXTURES / "rack-c12.yaml")

    assert lines == [
        f"{FIXTURES / 'rack-c12.yaml'}: 3 Hardware documents (c12-u03, c12-u05, c12-u07); "
        "pick one with --hardware-name"
    ]


def run_manage(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "render_template", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_as_a_process_it_prints_json_and_exits_zero() -> None:
    result = run_manage(GPU07, "--hardware", GPU07, "--format", "json")

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["tasks"][0]["actions"][1]["pid"] == "host"


def test_as_a_process_it_exits_one_with_plain_problem_lines(tmp_path: Path) -> None:
    template = tmp_path / "bad.tmpl"
    template.write_text(SMALL_TEMPLATE.replace("index .Hardware.Disks 0", "indexx .Disks"))

    result = run_manage(template, "--hardware", SM01)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f'{template}:12:25: function "indexx" not defined\n'
