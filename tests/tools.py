"""Tests that need a tool from the machine: a failure in CI, a skip (with the reason) locally."""

from __future__ import annotations

import os
import subprocess

import pytest


def require_tool(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{what} is missing; CI must have it (make test installs it)")
    pytest.skip(f"{what} is missing")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if ``process`` is still there after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
