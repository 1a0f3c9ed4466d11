from __future__ import annotations

from typing import Any

from tests.builds.conftest import test_images  # noqa: F401 - LinuxKit corpus builds use it
from tests.tinkerbell import conformance_report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = conformance_report.lines()
    if lines:
        terminalreporter.section("Tinkerbell conformance corpus")
        for line in lines:
            terminalreporter.write_line(line)
