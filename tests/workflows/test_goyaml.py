"""The one set of Go YAML rules: documents and ``fromYaml`` read a scalar the same way."""

from __future__ import annotations

import pytest
import yaml

from workflows.gotemplate.goyaml import GoLoader
from workflows.gotemplate.yamlfuncs import from_yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("52:54:00:07:00:01", "52:54:00:07:00:01"),  # base-60 in YAML 1.1, a string in Go
        ("2026-11-28", "2026-11-28"),  # a date in PyYAML, a string in Go
        ("y", True),
        ("Off", False),
        ("0o17", 15),
        ("0x1F", 31),
        ("~", None),
        ("1.5e3", 1500.0),
    ],
)
def test_a_scalar_reads_as_go_reads_it(text, expected):
    assert yaml.load(f"value: {text}", Loader=GoLoader) == {"value": expected}
    # fromYaml converts through JSON: numbers come back as float64.
    through_json = float(expected) if type(expected) is int else expected
    assert from_yaml(f"value: {text}") == {"value": through_json}
