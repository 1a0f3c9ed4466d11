from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builds.builder import Problem, check_recipe
from builds.builder.recipe import parse_recipe

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = """kernel:
  image: 127.0.0.1:5000/hook/kernel:v1
  cmdline: console=ttyS0
init:
  - linuxkit/init:v1.2.0
onboot:
  - name: sysctl
    image: linuxkit/sysctl:v1.0.0
services:
  - name: getty
    image: linuxkit/getty:v1.0.0
"""


def test_hook_shaped_recipe_validates() -> None:
    recipe = parse_recipe((FIXTURES / "hook-shaped.yaml").read_text())

    assert recipe.kernel.image == "quay.io/tinkerbell/hook-kernel:6.6.52-v1.0.0"
    assert [s.name for s in recipe.onboot] == ["rngd1", "sysctl", "sysfs", "modprobe", "vlan"]
    assert [s.name for s in recipe.services][:2] == ["getty", "rngd"]
    assert recipe.services[0].options["binds.add"][1] == "/etc/motd:/etc/motd"
    assert recipe.files[0].mode == 0o644
    assert recipe.files[-1].symlink == "/etc/hook.conf"
    assert [(w.line, w.message.split(":")[0]) for w in recipe.warnings] == [
        (121, "file etc/ip/vlan.sh"),
        (129, "trust"),
    ]
    dhcpcd = recipe.services[2]
    assert dhcpcd.options["runtime"] == {"mkdir": ["/var/lib/dhcpcd"]}


def test_good_recipe_has_no_problems() -> None:
    assert check_recipe(GOOD) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kernel: [1\n", Problem(2, 1, "YAML: expected ',' or ']', but got '<stream end>'")),
        (GOOD + "bogus: 1\n", Problem(12, 1, "recipe: unknown key 'bogus'")),
        (
            GOOD.replace("cmdline:", "cmdlin:"),
            Problem(3, 3, "kernel: unknown key 'cmdlin'"),
        ),
        (
            GOOD.replace("linuxkit/init:v1.2.0", "Linuxkit/INIT::bad"),
            Problem(5, 5, "init image: 'Linuxkit/INIT::bad' is not a valid image reference"),
        ),
        (
            "init: [linuxkit/init:v1]\n",
            Problem(1, 1, "kernel: missing (a recipe needs a kernel image)"),
        ),
        (
            GOOD.replace("    image: linuxkit/getty:v1.0.0", "    imag: linuxkit/getty:v1.0.0"),
            Problem(11, 5, "services 'getty': unknown key 'imag'"),
        ),
    ],
)
def test_problems_carry_line_and_column(text: str, expected: Problem) -> None:
    assert expected in check_recipe(text)


def test_duplicate_service_names_are_reported_at_the_second_name() -> None:
    text = GOOD + "  - name: getty\n    image: linuxkit/getty:v1.0.0\n"

    assert check_recipe(text) == [Problem(12, 11, "services: duplicate name 'getty'")]


def test_problem_prints_line_and_column() -> None:
    assert str(Problem(3, 7, "boom")) == "3:7: boom"


def test_cli_check(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("cmdline:", "cmdlin:") + "extra: 1\n")

    ok = subprocess.run(
        [sys.executable, "-m", "builds.builder", str(good), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    failed = subprocess.run(
        [sys.executable, "-m", "builds.builder", str(bad), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert (ok.returncode, ok.stderr) == (0, "")
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        f"{bad}:3:3: kernel: unknown key 'cmdlin'",
        f"{bad}:12:1: recipe: unknown key 'extra'",
    ]
