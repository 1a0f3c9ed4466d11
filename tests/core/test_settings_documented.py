"""Every setting Rackpilot reads from the environment is in the README's table, and services
take settings as rackpilot/settings.py made them, never with a default of their own."""

from __future__ import annotations

import ast
import re
import subprocess

from rackpilot.settings import BASE_DIR

# Calls in settings.py whose first argument names an environment variable.
READERS = {"env", "get", "str", "int", "float", "bool", "list", "_json_mapping", "_subnets"}
VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _environment_variables() -> set[str]:
    tree = ast.parse((BASE_DIR / "rackpilot" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if (
            called in READERS
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and VARIABLE.match(first.value)
        ):
            names.add(first.value)
    return names


def _documented() -> set[str]:
    names = set()
    for line in (BASE_DIR / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ")[0]))
    return names


def test_every_environment_variable_is_in_the_readme_table():
    read = _environment_variables()
    assert {"DATABASE_URL", "BUILD_REGISTRY_CREDENTIALS", "SECURE_HSTS_SECONDS"} <= read
    assert sorted(read - _documented()) == []


def test_services_never_read_a_setting_with_a_default_of_their_own():
    found = subprocess.run(
        ["git", "grep", "-nE", r"getattr\(settings, [^,)]+,", "--", "*.py", ":!tests"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert found == ""
