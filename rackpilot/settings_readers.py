"""How rackpilot/settings.py reads what the environment gives it: lists of subnets, JSON
mappings and keys kept in the var directory. A value that cannot be right stops the start and
names the variable, rather than running with something else."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured


def subnets(name: str) -> list[str]:
    """A comma-separated list of addresses or CIDRs; a typo stops the start, naming it."""
    values = environ.Env().list(name, default=[])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an address or subnet") from None
    return values


def json_mapping(name: str, shape: str, *, item: Callable[[object], bool]) -> dict[str, Any]:
    """A JSON object from the environment variable ``name`` whose values pass ``item``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: not JSON ({exc}); expected {shape}") from None
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and item(entry) for key, entry in value.items()
    ):
        raise ImproperlyConfigured(f"{name}: expected {shape}")
    return value


def string_list(value: object, length: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(entry, str) and entry for entry in value)
        and (length is None or len(value) == length)
    )


def local_secret(var_dir: Path, name: str, *, generate: bool, make: Callable[[], str]) -> str:
    """A key kept in ``<var_dir>/<name>`` (mode 0600): made on first start where ``generate``."""
    path = var_dir / name
    if path.exists():
        return path.read_text().strip()
    if not generate:
        return ""
    # Written aside, then linked into place: processes starting together all end up with the
    # one key that was linked first, never with a half-written file.
    draft = path.with_name(f".{name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(make() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
