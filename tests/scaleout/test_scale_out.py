"""Rackpilot as a fleet on one machine: two web processes, two Celery workers on separate
queues, one beat, artifacts in an S3 bucket, nginx balancing the agents.

- An agent connected to web process A (through nginx, A first and B its backup) streams an
  action; a browser socket on web process B receives the lines live, through Redis.
- A build queued through B's API runs on the builds worker (and only there), is uploaded to
  the bucket, and is downloaded through B, which never saw the build's files on its disk.
- Process A is killed mid-stream: the agent reconnects through nginx to B and no line is lost
  or repeated.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from builds.models import Build
from builds.services import recipes as recipe_services
from rackpilot.core.actors import Actor
from rackpilot.core.queues import BUILDS, DEFAULT, POWER, SWEEPS, queue_name
from rackpilot.core.tokens import api_token_issue
from rackpilot.webserver import web_command
from tests.agent.e2e import (
    AgentProcess,
    BrowserClient,
    action_yaml,
    actions_of,
    machine_with_disk,
    start_workflow,
    stored_lines,
    wait_for,
)
from tests.builds.conftest import test_images  # noqa: F401 - a fixture used here
from tests.builds.images import PushedImages
from tests.builds_app.artifact_servers import Nginx, S3Server, s3_server  # noqa: F401
from tests.factories import UserFactory
from tests.live_server import ARTIFACTS, AsgiLiveServer, server_environment
from tests.tools import stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]
SYSTEM = Actor.system("scale-out")
LINES = 300


@dataclass
class Fleet:
    web_a: AsgiLiveServer
    web_b: AsgiLiveServer
    balancer: Nginx
    logs: dict[str, Path]
    queue: str
    disks: Path

    @property
    def agent_url(self) -> str:
        return self.balancer.url

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


class _Balancer:
    """What AgentProcess needs of a server: the URL agents are given (nginx's)."""

    def __init__(self, url: str):
        self.url = url


def _celery(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rackpilot", *args, "-l", "info"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def fleet(
    transactional_db: None,
    s3_server: S3Server,  # noqa: F811 - the fixture of tests/builds_app/artifact_servers.py
    oci_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Fleet]:
    queue = f"so-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", queue)
    base = {
        **server_environment(),
        **s3_server.environment(),
        "BUILD_INSECURE_REGISTRIES": oci_registry,
        "LOG_VIEWER_TIP_SECONDS": "1",
    }

    def own_disk(name: str) -> dict[str, str]:
        # Every process has a disk of its own: nothing of a build is shared but the bucket.
        (tmp_path / name).mkdir()
        return {
            **base,
            "BUILD_ARTIFACTS_DIR": str(tmp_path / name / "artifacts"),
            "BUILD_CACHE_DIR": str(tmp_path / name / "cache"),
        }

    web_a = AsgiLiveServer(own_disk("web-a"))
    web_a.command = web_command(server="uvicorn", port=web_a.port, workers=1)
    web_b = AsgiLiveServer(own_disk("web-b"))
    web_b.command = web_command(server="uvicorn", port=web_b.port, workers=1)
    balancer = Nginx(
        tmp_path / "nginx",
        upstream="rackpilot_web",
        artifacts_location="nginx-artifacts-local.conf",
        http_extra=(
            "log_format upstreams '$upstream_addr|$status|$request'; "
            f"access_log {tmp_path / 'upstreams.log'} upstreams; "
            "upstream rackpilot_web { "
            f"server 127.0.0.1:{web_a.port} max_fails=1 fail_timeout=60s; "
            f"server 127.0.0.1:{web_b.port} backup; }}"
        ),
        RACKPILOT_ARTIFACTS_DIR=str(tmp_path / "web-a" / "artifacts"),
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("builds", "ops", "beat")}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        web_a.start()
        web_b.start()
        balancer.start()
        processes.append(
            _celery(own_disk("worker-builds"), logs["builds"], "worker",
                    "-Q", queue_name(BUILDS, default_queue=queue),
                    "-n", f"builds-{queue}@%h", "--concurrency", "1")
        )  # fmt: skip
        ops_queues = ",".join(
            queue_name(kind, default_queue=queue) for kind in (DEFAULT, POWER, SWEEPS)
        )
        processes.append(
            _celery(own_disk("worker-ops"), logs["ops"], "worker", "-Q", ops_queues,
                    "-n", f"ops-{queue}@%h", "--concurrency", "1")
        )  # fmt: skip
        processes.append(_celery(own_disk("beat"), logs["beat"], "beat"))
        yield Fleet(web_a, web_b, balancer, logs, queue, tmp_path)
    finally:
        for process in processes:
            stop_process(process, grace=20)
        balancer.stop()
        for server in (web_a, web_b):
            server.stop()
            server.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name, path in logs.items():
            if path.exists():
                (ARTIFACTS / f"scale-out-{name}.log").write_bytes(path.read_bytes())


def _api(server: AsgiLiveServer) -> requests.Session:
    user = UserFactory(is_superuser=True, is_staff=True)
    _, key = api_token_issue(user=user, actor=SYSTEM)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    return session


def _build_through_b(fleet: Fleet, images: PushedImages) -> None:
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name=f"hook-{fleet.queue}", config=images.recipe(), arches=["x86_64"]
    )
    api = _api(fleet.web_b)
    queued = api.post(f"{fleet.web_b.url}/api/v1/builds/", json={"recipe": recipe.name}, timeout=10)
    assert queued.status_code == 201, queued.text
    (build_id,) = [item["id"] for item in queued.json()]

    def finished() -> bool:
        return Build.objects.get(pk=build_id).is_finished

    wait_for(finished, 240, "the build to finish")
    build = Build.objects.get(pk=build_id)
    assert build.state == "success", (build.error, fleet.log("builds")[-3000:])
    # "Task <name>[<id>] received": the builds worker ran it, the other queue's never saw it
    assert "Task builds.run_build[" in fleet.log("builds")
    assert "Task builds.run_build[" not in fleet.log("ops")
    for artifact in build.artifacts.all():
        # served by B from the bucket: B's disk and the worker's hold no file of the build
        got = api.get(f"{fleet.web_b.url}/api/v1/builds/{build_id}/artifacts/{artifact.name}",
                      timeout=60)  # fmt: skip
        assert got.status_code == 200, got.text[:300]
        assert hashlib.sha256(got.content).hexdigest() == artifact.sha256
        part = api.get(
            f"{fleet.web_b.url}/artifacts/x86_64/{artifact.name}",
            headers={"Range": "bytes=10-99"},
            timeout=60,
        )
        assert part.status_code == 206 and part.content == got.content[10:100]
    for disk in ("web-b", "worker-builds"):
        assert not list((fleet.disks / disk).rglob("*-x86_64")), disk


def test_two_web_processes_two_workers_one_beat_and_a_bucket(
    fleet: Fleet,
    test_images: PushedImages,  # noqa: F811
    action_images: dict[str, str],
    podman_engine: Any,
    tmp_path: Path,
):
    machine = machine_with_disk()
    workflow = start_workflow(
        machine,
        "counting",
        action_yaml("count", action_images["lines"], 180, {"LINES": str(LINES), "DELAY": "0.05"}),
    )
    action = actions_of(workflow)[0]
    browser = BrowserClient(fleet.web_b, workflow)
    state_dir = tmp_path / "agent"
    state_dir.mkdir()
    agent = AgentProcess(
        server=_Balancer(fleet.agent_url),  # type: ignore[arg-type]
        machine=machine,
        docker_host=podman_engine.base_url,
        state_dir=state_dir,
    )
    agent.start()
    try:
        # the agent's lines reach the browser on the other process while A serves the agent
        wait_for(lambda: len(browser.lines(action.pk)) >= 60, 90, "live lines on B")
        assert stored_lines(action)[-1][0] < LINES, "the action ended before A could be killed"
        # A dies mid-stream: the agent reconnects through nginx to B and carries on
        os.killpg(fleet.web_a.process.pid, 9)  # type: ignore[union-attr]
        assert agent.wait(timeout=180) == 0, agent.output()
    finally:
        agent.stop()
        podman_engine.remove_all_containers()

    workflow.refresh_from_db()
    assert workflow.state == "success", (workflow.failure_reason, agent.output()[-3000:])
    action.refresh_from_db()
    stored = stored_lines(action)
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1)), "no gap, no repeat"
    # the agent's sockets: first to A, then (A gone) to B
    sockets = [  # "$upstream_addr" lists every server tried, comma-separated
        line.split("|")[0]
        for line in (fleet.disks / "upstreams.log").read_text().splitlines()
        if "/ws/agent/" in line
    ]
    a, b = (f"127.0.0.1:{server.port}" for server in (fleet.web_a, fleet.web_b))
    assert sockets[0] == a and sockets[-1].endswith(b), sockets
    container = [text for _, stream, text in stored if stream != "system"]
    assert len(container) == LINES
    wait_for(lambda: len(browser.lines(action.pk)) >= len(stored), 20, "every line on B")
    assert [(line["seq"], line["text"]) for line in browser.lines(action.pk)] == [
        (seq, text) for seq, _, text in stored
    ]
    browser.close()

    # a build queued through B runs on the builds worker and is downloaded through B
    _build_through_b(fleet, test_images)
    # one beat sent the sweeps, and they ran on the ops worker
    wait_for(lambda: "Task workflows.enforce_timeouts[" in fleet.log("ops"), 30, "a sweep on ops")
    assert "Task workflows.enforce_timeouts[" not in fleet.log("builds")
