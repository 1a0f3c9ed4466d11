"""YAML read and written as Go's YAML libraries do (go-yaml v2, under sigs.k8s.io/yaml, which
Kubernetes, kubectl and Tinkerbell use).

PyYAML follows YAML 1.1 as written, which turns ``52:54:00:07:00:01`` into a base-60 number
and ``2026-11-28`` into a date; go-yaml reads both as strings. Its booleans are YAML 1.1's,
single letters included (``y``, ``n``), and ``0o17`` is octal. The documents Rackpilot reads
(Tinkerbell Hardware, Template and Workflow files) and the template functions ``fromYaml`` /
``toYaml`` share these rules, so a value means the same wherever it is read.
"""

from __future__ import annotations

import re

import yaml

STR_TAG = "tag:yaml.org,2002:str"


def _go_resolvers(cls: type[yaml.SafeLoader] | type[yaml.SafeDumper], *, dates: bool) -> None:
    """Replace PyYAML's implicit typing with go-yaml v2's."""
    cls.yaml_implicit_resolvers = {}
    cls.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(
            r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
            r"|on|On|ON|off|Off|OFF)$"
        ),
        list("yYnNtTfFoO"),
    )
    cls.add_implicit_resolver(
        "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
    )
    cls.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)$"),
        list("-+0123456789"),
    )
    cls.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    cls.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
    if dates:
        cls.add_implicit_resolver(
            "tag:yaml.org,2002:timestamp",
            re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?$"),
            list("0123456789"),
        )


class GoLoader(yaml.SafeLoader):
    """SafeLoader with go-yaml's scalars: no base-60 numbers, dates stay strings."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


class GoDumper(yaml.SafeDumper):
    """SafeDumper that quotes what go-yaml would read back as another type (dates included)."""


_go_resolvers(GoLoader, dates=False)
_go_resolvers(GoDumper, dates=True)


def text_position(text: str, offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of the character at ``offset`` in ``text`` (where a
    ``yaml.reader.ReaderError`` found a character YAML does not allow)."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def character_name(character: int | str | bytes) -> str:
    """How an error names a character YAML refuses: ``#x001f``."""
    code = character if isinstance(character, int) else ord(character)
    return f"#x{code:04x}"
