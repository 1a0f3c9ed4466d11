"""Tests that need a tool from the machine: a failure in CI, a skip (with the reason) locally."""

from __future__ import annotations

import os

import pytest


def require_tool(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{what} is missing; CI must have it (make test installs it)")
    pytest.skip(f"{what} is missing")
