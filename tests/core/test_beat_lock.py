"""One beat across hosts: two real `celery beat` processes on one real Redis send each due
task once (the other waits on the lock), and the waiting one takes over when the holder dies.

The schedule's fastest entry is the power poll, every POWER_POLL_SECONDS (1 s here); the test
counts the poll messages the broker received in its sweeps queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rackpilot.core.queues import SWEEPS, queue_name
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.tools import stop_process

ROOT = Path(__file__).resolve().parents[2]
LOCK_SECONDS = 4


@dataclass
class Beat:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def holds_the_lock(self) -> bool:
        return "beat: Acquired lock" in self.output()


@dataclass
class Beats:
    queue: str
    server: RedisServer
    processes: list[Beat]

    def polls_received(self) -> int:
        raw = self.server.client().lrange(queue_name(SWEEPS, default_queue=self.queue), 0, -1)
        return sum(json.loads(m)["headers"]["task"] == "inventory.poll_power" for m in raw)

    def wait(self, what: str, condition: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            logs = "\n".join(beat.output() for beat in self.processes)
            assert time.monotonic() < deadline, f"{what} within {seconds} s:\n{logs}"
            time.sleep(0.1)


@pytest.fixture
def beats(redis_server: RedisServer, tmp_path: Path) -> Iterator[Beats]:  # noqa: F811
    queue = f"beat-{uuid.uuid4().hex[:8]}"
    # Beat opens no database: the test's environment and a Redis of its own are all it needs.
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": redis_server.url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_BEAT_LOCK_SECONDS": str(LOCK_SECONDS),
            "POWER_POLL_SECONDS": "1",
            "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    processes = []
    for index in range(2):
        log = tmp_path / f"beat-{index}.log"
        command = [sys.executable, "-m", "celery", "-A", "rackpilot", "beat", "-l", "info"]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        processes.append(Beat(process, log))
    try:
        yield Beats(queue, redis_server, processes)
    finally:
        for beat in processes:
            stop_process(beat.process, grace=10)


def test_two_beats_send_each_due_task_once_and_the_second_takes_over(beats: Beats) -> None:
    # given two beats started together: one takes the lock, the other waits
    beats.wait("a beat took the lock", lambda: any(b.holds_the_lock() for b in beats.processes), 60)
    beats.wait("the first poll arrived", lambda: beats.polls_received() >= 1, 15)
    holder, waiting = sorted(beats.processes, key=lambda beat: not beat.holds_the_lock())
    assert not waiting.holds_the_lock()

    # when 6 s pass: one poll a second, from one beat alone (two senders would make ~12)
    before = beats.polls_received()
    time.sleep(6)
    sent = beats.polls_received() - before
    assert 4 <= sent <= 8, f"{sent} polls in 6 s"
    assert not waiting.holds_the_lock()

    # when the holder dies without releasing its lock
    holder.process.kill()
    holder.process.wait(timeout=10)
    died = beats.polls_received()

    # then the other takes the lock once it expires, and the polls go on
    beats.wait("the waiting beat took over", waiting.holds_the_lock, LOCK_SECONDS + 15)
    beats.wait("polls resumed", lambda: beats.polls_received() >= died + 3, 15)
    assert waiting.process.poll() is None
