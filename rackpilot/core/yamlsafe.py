"""YAML read as Go's YAML libraries (Kubernetes, Tinkerbell) read it.

PyYAML follows YAML 1.1, which turns ``52:54:00:07:00:01`` into a base-60 number and
``2026-11-28`` into a date. Go reads both as strings; so does this loader.
"""

from __future__ import annotations

import re

import yaml

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class GoSafeLoader(yaml.SafeLoader):
    """SafeLoader without base-60 numbers and timestamps."""


GoSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GoSafeLoader.add_implicit_resolver(
    _INT,
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
GoSafeLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


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
