"""A process running the build task is killed mid-build: the build does not stay running.

The task runs in a subprocess on the test database (committed rows only, hence a
transactional test); its builder hangs on a registry that never answers, so the kill lands
mid-build. The beat task's recovery then fails the build as "worker lost".
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from builds.models import Build
from builds.services import recipes as recipe_services
from builds.services.lifecycle import builds_recover_stale
from tests.builds_app.conftest import SYSTEM, queue_one
from tests.live_server import server_environment

pytestmark = pytest.mark.django_db(transaction=True)

TASK = """
import sys, django
django.setup()
from django.conf import settings
settings.BUILD_INSECURE_REGISTRIES = [sys.argv[2]]
settings.BUILD_ARTIFACTS_DIR = sys.argv[3]
settings.BUILD_CACHE_DIR = sys.argv[4]
settings.BUILD_HEARTBEAT_SECONDS = 0.2
from builds.tasks import run_build
run_build.run(int(sys.argv[1]))
"""


def test_killed_task_process_leaves_a_build_that_recovery_fails(tmp_path, settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers: the pull hangs
    registry = f"127.0.0.1:{silent.getsockname()[1]}"
    config = f'kernel:\n  image: {registry}/hook/kernel:v1\n  cmdline: "console=ttyS0"\n'
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="hangs", config=config, arches=["x86_64"]
    )
    build = queue_one(recipe)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            TASK,
            str(build.pk),
            registry,
            str(tmp_path / "artifacts"),
            str(tmp_path / "cache"),
        ],
        env=server_environment(),
    )
    try:
        deadline = time.monotonic() + 30
        while Build.objects.get(pk=build.pk).state != "running":
            assert process.poll() is None, "the task process ended before the build started"
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.1)
        time.sleep(0.5)  # a heartbeat or two
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        silent.close()

    build.refresh_from_db()
    assert build.state == "running"  # nobody is left to end it
    assert builds_recover_stale() == 0  # its heartbeat is recent: not yet stale

    later = timezone.now() + timedelta(minutes=settings.BUILD_STALE_MINUTES + 1)
    assert builds_recover_stale(now=later) == 1
    build.refresh_from_db()
    assert build.state == "failed"
    assert build.error.startswith("worker lost")
