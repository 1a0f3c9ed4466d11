"""Reading JSON that Rackpilot stored but did not shape itself (an agent's hardware report,
an importer's metadata): a field of the wrong type reads as empty, never as a crash."""

from __future__ import annotations

from typing import Any


def as_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objects_in(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in ``value`` if it is a list (other items skipped), else none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
