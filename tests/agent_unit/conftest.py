"""Unit tests of rackpilot-agent: no Django, no Rackpilot server, no container engine.

Run with ``pytest tests/agent_unit -p no:django --confcutdir=tests/agent_unit`` so neither
Django nor the project's conftest is loaded; the agent must stand on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rackpilot_agent.config import Settings


@pytest.fixture
def agent_settings(tmp_path: Path) -> Settings:
    return Settings(
        url="http://127.0.0.1:9",
        token="rpa_test",
        worker_id="52:54:00:12:34:56",
        state_dir=tmp_path / "state",
        spool_cap=1 << 20,
        backoff_initial=0.01,
        backoff_max=0.05,
        auth_retry=0.01,
        recheck=0.2,
        cmdline_path=tmp_path / "no-cmdline",
        hardware_root=tmp_path / "no-root",
    )
