"""``toYaml``, ``fromYaml`` and ``toJson`` with the output Tinkerbell's Go code produces.

Tinkerbell uses sigs.k8s.io/yaml, which converts through JSON: maps come out with sorted
keys, numbers read by ``fromYaml`` are float64 (so 3 prints as 3 but 1000000 as 1e+06), and
scalars are resolved with go-yaml's YAML 1.1 rules (``yes``/``y``/``on`` are booleans,
``12:30`` and dates stay strings).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import yaml

from .errors import GoFuncError
from .goyaml import STR_TAG as _STR_TAG
from .goyaml import GoDumper
from .goyaml import GoLoader as _GoLoader
from .values import format_float, format_json_float, format_value, go_type_name

_INT64 = 2**63


class _GoDumper(GoDumper):
    """go-yaml's output of the values a template hands ``toYaml``."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style: str | None = None
    if "\n" in data:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, data, (True, False)) != _STR_TAG:
        # A string that would read back as another type ("yes", "123", "") is quoted.
        style = '"'
    return dumper.represent_scalar(_STR_TAG, data, style=style)


def _represent_float(dumper: yaml.SafeDumper, data: float) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", format_float(data, "g", -1))


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(float, _represent_float)


def _jsonable(value: object) -> Any:
    """The value as it comes back from a trip through encoding/json."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise GoFuncError(f"json: unsupported value: {format_value(value)}")
        # JSON writes 3.0 as 3, which reads back as an integer.
        if value.is_integer() and abs(value) < _INT64:
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {
            (key if isinstance(key, str) else format_value(key)): _jsonable(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise GoFuncError(f"json: unsupported type: {go_type_name(value)}")


def to_yaml(value: object) -> str:
    try:
        data = _jsonable(value)
    except GoFuncError as error:
        raise GoFuncError(f"toYaml: error marshaling into JSON: {error}") from None
    text = yaml.dump(
        data, Dumper=_GoDumper, default_flow_style=False, sort_keys=True, allow_unicode=True
    )
    # A lone scalar gets a document end marker from PyYAML; go-yaml writes none.
    text = text.removesuffix("\n...\n")
    return text.removesuffix("\n")


def _from_json_numbers(value: Any) -> Any:
    """JSON decoding into interface{}: every number is a float64 and every key a string."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {_json_key(key): _from_json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json_numbers(item) for item in value]
    return format_value(value)


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, float):
        return format_json_float(key)
    return format_value(key)


def from_yaml(text: str) -> object:
    if text == "":
        raise GoFuncError("fromYaml: empty YAML input")
    try:
        document = next(yaml.load_all(text, Loader=_GoLoader), None)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        raise GoFuncError(
            f"fromYaml: error converting YAML to JSON: yaml: line {line}: {error.problem}"
        ) from None
    except yaml.YAMLError as error:
        raise GoFuncError(f"fromYaml: error converting YAML to JSON: yaml: {error}") from None
    return _from_json_numbers(document)


def _json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    # encoding/json escapes HTML-significant characters and the JS line separators.
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        encoded = encoded.replace(char, escape)
    return encoded


def _json_encode(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return "{" + ",".join(f"{_json_string(k)}:{_json_encode(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_encode(item) for item in value) + "]"
    raise GoFuncError(f"json: unsupported type: {go_type_name(value)}")


def to_json(value: object) -> str:
    """Sprig's toJson: compact JSON, or an empty string when the value cannot be encoded."""
    try:
        return _json_encode(_jsonable(value))
    except GoFuncError:
        return ""
