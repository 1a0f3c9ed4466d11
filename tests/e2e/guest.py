"""A qemu guest that keeps running (the Hook does not power off): started in the background,
its serial console collected as it prints, stopped when the test has seen what it needs."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Console lines after which the guest will get nowhere: fail at once instead of timing out.
GIVE_UP = ("Kernel panic", "No bootable device", "EFI Internal Shell")


class Guest:
    def __init__(self, command: list[str], *, console_log: Path) -> None:
        self.command = command
        self.console_log = console_log
        self.started = time.monotonic()
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        while chunk := self._process.stdout.read1(65536):  # type: ignore[attr-defined]
            with self._lock:
                self._buffer.extend(chunk)

    @property
    def console(self) -> str:
        with self._lock:
            return self._buffer.decode(errors="replace")

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def wait_for(self, what: str, condition: Callable[[], bool], *, timeout: float) -> float:
        """Poll ``condition`` until it holds; returns the seconds since the guest started.
        Fails with the console when the guest dies, gives up or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return self.seconds()
            console = self.console
            gave_up = next((line for line in GIVE_UP if line in console), None)
            if gave_up or self._process.poll() is not None:
                reason = (
                    f"printed {gave_up!r}" if gave_up else f"exited ({self._process.returncode})"
                )
                pytest.fail(f"waiting for {what}: the guest {reason}; console:\n{console[-8000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout:.0f} s; console:\n{console[-8000:]}")
            time.sleep(1)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=30)
        self._reader.join(timeout=10)
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        self.console_log.write_text(self.console)
