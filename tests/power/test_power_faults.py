"""Power control under faults, with real components: a BMC killed mid-session, a Celery worker
killed mid-job, two operators asking at the same moment, a BMC that answers garbage.

What an operator needs in every case: the job ends (failed, with a message that names the BMC
and says what went wrong, never the password), and the machine takes the next power request.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.utils import timezone

from inventory.models import BMC, Machine, PowerJob
from inventory.power import services
from inventory.power.drivers import BmcAccess
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory
from tests.live_server import ROOT, server_environment
from tests.power.conftest import HOST, PASSWORD, USERNAME, IpmiEmulator, RedfishEmulator

pytestmark = pytest.mark.faults
OPERATOR = Actor.system("tests")
BMC_TIMEOUT = 3.0
# A dead BMC fails the first request of a job, which the timeout bounds; allow for starting
# ipmitool and for sushy's one retry of a GET answered 5xx.
SLACK = 2.0


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests run each job themselves, through the function the Celery task calls.
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)


@pytest.fixture
def short_bmc_timeout(settings: pytest.FixtureRequest) -> None:
    settings.POWER_BMC_TIMEOUT_SECONDS = BMC_TIMEOUT  # type: ignore[attr-defined]
    settings.POWER_POLL_TIMEOUT_SECONDS = BMC_TIMEOUT  # type: ignore[attr-defined]


def machine_behind(access: BmcAccess, hostname: str) -> Machine:
    machine = MachineFactory(hostname=hostname)
    BMCFactory(
        machine=machine,
        protocol=access.protocol,
        address=access.address,
        port=access.port,
        username=access.username,
        password=access.password,
        verify_tls=access.verify_tls,
        redfish_system_id=access.redfish_system_id,
    )
    return machine


def request(machine: Machine, action: str) -> PowerJob:
    return services.power_job_request(machine=machine, action=action, actor=OPERATOR)


def run_timed(job: PowerJob) -> tuple[PowerJob, float]:
    """Runs the job as the Celery task does; it must end (never raise, never stay running)."""
    started = time.monotonic()
    finished = services.power_job_run(job_id=job.pk)
    elapsed = time.monotonic() - started
    assert finished is not None
    job.refresh_from_db()
    assert job.state == finished.state
    return finished, elapsed


def assert_takes_the_next_request(machine: Machine) -> None:
    """No job left queued or running: the machine accepts a new power request."""
    assert not machine.power_jobs.filter(state__in=["queued", "running"]).exists()
    assert request(machine, "status").state == "queued"


def assert_clear_failure(job: PowerJob, bmc_label: str, *reasons: str) -> None:
    assert job.state == "failed"
    assert job.finished_at is not None
    assert bmc_label in job.error, job.error
    assert any(reason in job.error.lower() for reason in reasons), job.error
    assert PASSWORD not in job.error


# --- 1. A BMC dies mid-session ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "short_bmc_timeout")
def test_ipmi_bmc_killed_mid_session(own_ipmi_bmc: IpmiEmulator) -> None:
    access = own_ipmi_bmc.access
    machine = machine_behind(access, "ipmi-dies")
    on, _ = run_timed(request(machine, "on"))
    assert on.state == "success", on.error

    own_ipmi_bmc.process.send_signal(signal.SIGKILL)
    own_ipmi_bmc.process.wait(timeout=5)

    off, elapsed = run_timed(request(machine, "off"))
    assert elapsed < BMC_TIMEOUT + SLACK, f"the job took {elapsed:.1f} s"
    assert_clear_failure(off, f"IPMI BMC {HOST}:{access.port}", "did not answer", "no answer")
    assert off.power_state == ""  # nothing is known about the power now
    assert_takes_the_next_request(machine)

    bmc = BMC.objects.get(machine=machine)
    assert bmc.power_state == "on"  # the last good answer, until the poll
    assert services.bmc_poll(bmc_id=bmc.pk) == "unknown"
    bmc.refresh_from_db()
    assert bmc.power_state == "unknown"


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "short_bmc_timeout")
def test_a_dead_ipmi_bmc_is_told_apart_from_a_wrong_password(own_ipmi_bmc: IpmiEmulator) -> None:
    access = own_ipmi_bmc.access
    refused, _ = run_timed(request(machine_behind(replace(access, password="nope"), "i-1"), "on"))
    own_ipmi_bmc.process.send_signal(signal.SIGKILL)
    own_ipmi_bmc.process.wait(timeout=5)
    dead, _ = run_timed(request(machine_behind(access, "i-2"), "on"))

    assert refused.state == dead.state == "failed"
    assert "answer" not in refused.error.lower(), refused.error
    assert "refused user 'admin'" in refused.error, refused.error
    assert "did not answer" in dead.error.lower() or "no answer" in dead.error.lower(), dead.error


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "short_bmc_timeout")
def test_redfish_bmc_killed_mid_session(own_redfish_bmc: RedfishEmulator) -> None:
    access = own_redfish_bmc.access()
    machine = machine_behind(access, "rf-dies")
    on, _ = run_timed(request(machine, "on"))
    assert on.state == "success", on.error

    own_redfish_bmc.process.send_signal(signal.SIGKILL)
    own_redfish_bmc.process.wait(timeout=5)

    off, elapsed = run_timed(request(machine, "off"))
    assert elapsed < BMC_TIMEOUT + SLACK, f"the job took {elapsed:.1f} s"
    assert_clear_failure(off, f"Redfish BMC {own_redfish_bmc.url}/redfish/v1", "could not connect")
    assert "connection refused" in off.error.lower(), off.error
    assert_takes_the_next_request(machine)

    bmc = BMC.objects.get(machine=machine)
    assert services.bmc_poll(bmc_id=bmc.pk) == "unknown"
    bmc.refresh_from_db()
    assert bmc.power_state == "unknown"


# --- 2. The Celery worker is killed mid-job -----------------------------------------------------


@dataclass
class CeleryWorker:
    process: subprocess.Popen[bytes]
    queue: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def _forget_queue(queue: str) -> None:
    """Drop what the killed worker left in Redis for its private queue: the message it never
    acknowledged would otherwise be restored to that queue, which nobody reads, an hour later."""
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for tag, value in client.hscan_iter("unacked"):
            if queue.encode() in value:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.delete(queue)
    finally:
        client.close()


@pytest.fixture
def celery_worker(tmp_path: Path, settings: pytest.FixtureRequest) -> Iterator[CeleryWorker]:
    """A real Celery worker (solo pool: the job runs in the process the test kills) on the test
    database and Redis, reading a queue of its own so parallel test runs cannot feed it."""
    if not settings.REDIS_URL:  # type: ignore[attr-defined]
        pytest.skip("a real Celery worker needs REDIS_URL")
    queue = f"power-faults-{uuid.uuid4().hex[:12]}"
    env = server_environment()
    env["POWER_BMC_TIMEOUT_SECONDS"] = "60"  # the kill lands long before the driver gives up
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "rackpilot", "worker", "-P", "solo"]
    command += ["-Q", queue, "-n", f"{queue}@{HOST}", "--loglevel", "INFO"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        yield CeleryWorker(process, queue, log_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        _forget_queue(queue)


def wait_for_state(job: PowerJob, state: str, worker: CeleryWorker, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while PowerJob.objects.get(pk=job.pk).state != state:
        assert worker.process.poll() is None, f"the worker died:\n{worker.output()}"
        assert time.monotonic() < deadline, f"the job never got {state}:\n{worker.output()}"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_job_leaves_a_job_that_recovery_fails(
    celery_worker: CeleryWorker, monkeypatch: pytest.MonkeyPatch, settings: pytest.FixtureRequest
) -> None:
    from inventory.power.tasks import run_power_job

    monkeypatch.setattr(
        services,
        "enqueue_power_job",
        lambda job_id: run_power_job.apply_async((job_id,), queue=celery_worker.queue),
    )
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(4)  # accepts the connection, never answers: the driver hangs
        silent.settimeout(30)
        address = f"http://{HOST}:{silent.getsockname()[1]}"
        machine = machine_behind(
            BmcAccess("redfish", address, None, USERNAME, PASSWORD), "rf-worker-dies"
        )
        job = request(machine, "on")  # committed, so handed to the worker right away

        wait_for_state(job, "running", celery_worker, seconds=30)
        bmc_side, _ = silent.accept()  # the worker is talking to the BMC: mid-job
        with bmc_side:
            celery_worker.process.send_signal(signal.SIGKILL)
            celery_worker.process.wait(timeout=10)

    job.refresh_from_db()
    assert job.state == "running"  # nobody is left to end it
    with pytest.raises(services.PowerBusyError):
        request(machine, "off")  # until recovery, the machine is (rightly) busy
    assert services.power_jobs_fail_lost() == 0  # a job this young may still be running

    later = timezone.now() + timedelta(seconds=settings.POWER_JOB_LOST_SECONDS + 1)  # type: ignore[attr-defined]
    assert services.power_jobs_fail_lost(now=later) == 1
    job.refresh_from_db()
    assert job.state == "failed"
    assert job.error.startswith("worker lost"), job.error
    assert job.finished_at is not None
    # The machine takes the next request (not handed to any worker: this one is dead).
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)
    assert request(machine, "off").state == "queued"


# --- 3. Two operators at the same moment ----------------------------------------------------


def both_at_once(machine: Machine, actions: tuple[str, str]) -> list[object]:
    """Two threads, each on its own database connection, request at the same moment; returns
    what each got (the job, or the exception)."""
    barrier = threading.Barrier(len(actions), timeout=10)
    outcomes: list[object] = []

    def operator(action: str) -> None:
        try:
            barrier.wait()
            outcomes.append(request(machine, action))
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=operator, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive(), "an operator's request hung"
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_broker")
def test_two_operators_at_once_get_one_job() -> None:
    # Each round a fresh machine: the race has several chances to go wrong.
    for round_number in range(5):
        access = BmcAccess("ipmi", HOST, 9, USERNAME, PASSWORD)
        machine = machine_behind(access, f"race-{round_number}")

        outcomes = both_at_once(machine, ("on", "off"))

        jobs = [outcome for outcome in outcomes if isinstance(outcome, PowerJob)]
        refused = [o for o in outcomes if isinstance(o, services.PowerBusyError)]
        assert len(jobs) == 1 and len(refused) == 1, outcomes
        assert PowerJob.objects.filter(machine=machine).count() == 1
        assert "still queued" in str(refused[0])


# --- 4. A BMC that answers garbage --------------------------------------------------------------

ROOT_DOC = {
    "@odata.id": "/redfish/v1/",
    "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
    "Id": "RootService",
    "Name": "Root Service",
    "RedfishVersion": "1.5.0",
    "UUID": "85775665-c110-4b85-8989-e6162170b3ec",
    "Systems": {"@odata.id": "/redfish/v1/Systems"},
}
SYSTEMS_DOC = {
    "@odata.id": "/redfish/v1/Systems",
    "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
    "Name": "Computer System Collection",
    "Members@odata.count": 1,
    "Members": [{"@odata.id": "/redfish/v1/Systems/1"}],
}
RESET_TARGET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
SYSTEM_DOC = {
    "@odata.id": "/redfish/v1/Systems/1",
    "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
    "Id": "1",
    "Name": "node",
    "PowerState": "Off",
    "Actions": {
        "#ComputerSystem.Reset": {
            "target": RESET_TARGET,
            "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"],
        }
    },
}
JSON = "application/json"
INVALID_JSON = ('{"@odata.id": "/redfish/v1/", "Systems": {', JSON)
SERVER_ERROR = (500, "<html><body>Internal Server Error</body></html>", "text/html")
GOOD = {
    "/redfish/v1/": (200, json.dumps(ROOT_DOC), JSON),
    "/redfish/v1/Systems": (200, json.dumps(SYSTEMS_DOC), JSON),
    "/redfish/v1/Systems/1": (200, json.dumps(SYSTEM_DOC), JSON),
}
# path -> (status, body, content type); anything else is a 404.
Routes = dict[str, tuple[int, str, str]]
PARSE_REASONS = ("json", "not valid redfish", "could not parse", "invalid")


@dataclass(frozen=True)
class Garbage:
    routes: Routes
    reasons: tuple[str, ...]  # the error says one of these (lower case)
    poll: str = "unknown"  # what bmc_poll reads afterwards


GARBAGE = [
    pytest.param(
        Garbage({**GOOD, "/redfish/v1/": (200, *INVALID_JSON)}, PARSE_REASONS),
        id="invalid JSON for the service root",
    ),
    pytest.param(
        Garbage(dict.fromkeys(GOOD, SERVER_ERROR), ("http 500",)),
        id="HTTP 500 for everything",
    ),
    pytest.param(
        Garbage({**GOOD, "/redfish/v1/Systems/1": (200, *INVALID_JSON)}, PARSE_REASONS),
        id="invalid JSON for the system",
    ),
    pytest.param(
        Garbage(
            {**GOOD, "/redfish/v1/Systems/1": (200, "<html>It works!</html>", "text/html")},
            PARSE_REASONS,
        ),
        id="an HTML page with status 200 for the system",
    ),
    pytest.param(
        Garbage({**GOOD, "/redfish/v1/Systems/1": (200, "[1, 2, 3]", JSON)}, PARSE_REASONS),
        id="a JSON list for the system",
    ),
    pytest.param(
        # The system reads fine (so the poll does too); only the reset is answered garbage.
        Garbage({**GOOD, RESET_TARGET: (500, "{{{ not json", JSON)}, ("http 500",), poll="off"),
        id="HTTP 500 with garbage to the reset",
    ),
]


class _GarbageHandler(BaseHTTPRequestHandler):
    routes: Routes = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        status, body, content_type = self.routes.get(
            path, self.routes.get(path.rstrip("/") or "/", (404, "not found", "text/plain"))
        )
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(routes: Routes) -> Iterator[str]:
    """A Redfish-looking HTTP server on loopback answering ``routes``; yields its URL."""
    handler = type("Handler", (_GarbageHandler,), {"routes": routes})
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.django_db
@pytest.mark.usefixtures("no_broker", "short_bmc_timeout")
@pytest.mark.parametrize("garbage", GARBAGE)
def test_a_bmc_answering_garbage_fails_the_job_clearly(garbage: Garbage) -> None:
    with serve(garbage.routes) as url:
        access = BmcAccess("redfish", url, None, USERNAME, PASSWORD)
        machine = machine_behind(access, "rf-garbage")

        job, elapsed = run_timed(request(machine, "on"))
        assert elapsed < BMC_TIMEOUT + SLACK, f"the job took {elapsed:.1f} s"
        assert_clear_failure(job, f"Redfish BMC {url}/redfish/v1", *garbage.reasons)
        assert_takes_the_next_request(machine)
        bmc = BMC.objects.get(machine=machine)
        assert services.bmc_poll(bmc_id=bmc.pk) == garbage.poll
