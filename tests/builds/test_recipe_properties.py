"""Property tests for LinuxKit recipes: any YAML an operator saves as a recipe parses into a
build plan or into problems that point at a line and column — never an unhandled exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builds.builder.recipe import Recipe, RecipeError, parse_recipe

HOOK_SHAPED = (Path(__file__).parent / "fixtures" / "hook-shaped.yaml").read_text()
PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys a LinuxKit file uses, so that generated documents reach deep into the checks.
KEYS = [
    "kernel",
    "image",
    "cmdline",
    "init",
    "onboot",
    "onshutdown",
    "services",
    "files",
    "name",
    "command",
    "capabilities",
    "binds",
    "binds.add",
    "net",
    "pid",
    "path",
    "contents",
    "directory",
    "mode",
    "source",
    "symlink",
    "env",
    "x-rackpilot",
    "builder",
    "trust",
]
LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["linuxkit/init:v1.2.0", "127.0.0.1:5000/a/b@sha256:" + "0" * 64, "bad image", "0644"]
    ),
)
DOCUMENT = st.recursive(
    LEAF,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


def outcome(text: str) -> Recipe | list[Any]:
    try:
        return parse_recipe(text)
    except RecipeError as exc:
        return exc.problems


def assert_located(problems: list[Any], text: str) -> None:
    assert problems
    lines = text.count("\n") + 2
    for problem in problems:
        assert problem.message.strip()
        assert 1 <= problem.line <= lines and problem.column >= 1, problem


@PROPERTIES
@given(DOCUMENT)
@example({"kernel": {"image": "linuxkit/kernel:6.6", "cmdline": 5}, "files": [{"path": None}]})
@example({"kernel": [], "init": "x", "onboot": {"a": 1}})
def test_any_yaml_document_is_a_recipe_or_located_problems(document: Any) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    result = outcome(text)
    if isinstance(result, list):
        assert_located(result, text)
    else:
        assert result.kernel.image  # a recipe that parsed has a kernel to boot


@PROPERTIES
@given(
    position=st.integers(min_value=0, max_value=len(HOOK_SHAPED)),
    cut=st.integers(min_value=0, max_value=30),
    insert=st.text(alphabet=st.sampled_from(list(":-[]{}\"'#&*!|>\n\t x=\x1f")), max_size=8),
)
@example(position=0, cut=0, insert="\x1f")
@example(position=0, cut=0, insert="=")
def test_a_damaged_real_recipe_is_a_recipe_or_located_problems(
    position: int, cut: int, insert: str
) -> None:
    text = HOOK_SHAPED[:position] + insert + HOOK_SHAPED[position + cut :]
    result = outcome(text)
    if isinstance(result, list):
        assert_located(result, text)
