"""Power jobs: queued through the service, one at a time per machine, run by the task function,
ending with the BMC's answer or its refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import BMC, PowerJob
from inventory.power import services
from inventory.power.drivers import PowerError
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import BMCFactory, MachineFactory

pytestmark = pytest.mark.django_db
OPERATOR = Actor.system("tests")


@pytest.fixture
def machine() -> Any:
    machine = MachineFactory(hostname="pw-01")
    BMCFactory(machine=machine, password="s3cret")
    return machine


def request(machine: Any, action: str = "cycle", **values: Any) -> PowerJob:
    return services.power_job_request(machine=machine, action=action, actor=OPERATOR, **values)


def test_a_request_is_queued_and_handed_to_celery_after_the_commit(
    machine: Any, queued_power_jobs: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = request(machine, boot_device="pxe", reason="reinstall")
        assert queued_power_jobs == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert queued_power_jobs == [job.pk]
    assert (job.state, job.action, job.boot_device, job.requested_by) == (
        "queued",
        "cycle",
        "pxe",
        "tests",
    )
    event = Event.objects.get(verb="power.requested")
    assert event.machine_id == machine.pk
    assert event.message == "reinstall"


def test_one_job_at_a_time_per_machine(machine: Any, queued_power_jobs: list[int]) -> None:
    first = request(machine)
    with pytest.raises(services.PowerBusyError, match="is still queued"):
        request(machine, "off")
    services.power_job_run(job_id=first.pk, run=lambda job: "on")
    assert request(machine, "off").state == "queued"


@pytest.mark.parametrize(
    ("values", "field"),
    [({"action": "explode"}, "action"), ({"action": "on", "boot_device": "usb"}, "boot_device")],
)
def test_bad_requests_name_the_field(
    machine: Any, queued_power_jobs: list[int], values: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.power_job_request(machine=machine, actor=OPERATOR, **values)
    assert field in caught.value.message_dict
    assert not PowerJob.objects.exists()


def test_a_machine_without_a_bmc_is_refused(queued_power_jobs: list[int]) -> None:
    with pytest.raises(ValidationError) as caught:
        request(MachineFactory(hostname="no-bmc"))
    assert caught.value.message_dict["bmc"] == ["no-bmc has no BMC to send power commands to."]


def test_a_finished_job_records_the_power_state_on_the_bmc(
    machine: Any, queued_power_jobs: list[int]
) -> None:
    job = request(machine, "off")
    finished = services.power_job_run(job_id=job.pk, run=lambda job: "off")
    assert finished is not None
    assert (finished.state, finished.power_state, finished.error) == ("success", "off", "")
    bmc = BMC.objects.get(machine=machine)
    assert bmc.power_state == "off"
    assert bmc.power_state_at is not None
    verbs = list(Event.objects.filter(machine=machine).values_list("verb", flat=True))
    assert "power.succeeded" in verbs and "bmc.power_state_changed" in verbs


def test_a_refusal_is_the_jobs_failure_with_the_bmcs_message(
    machine: Any, queued_power_jobs: list[int]
) -> None:
    def refuse(job: PowerJob) -> str:
        raise PowerError("redfish BMC 10.0.0.9: ForceRestart refused: 401 Unauthorized")

    job = request(machine)
    finished = services.power_job_run(job_id=job.pk, run=refuse)
    assert finished is not None
    assert finished.state == "failed"
    assert "401 Unauthorized" in finished.error
    assert BMC.objects.get(machine=machine).power_state == "unknown"  # nothing learned
    assert Event.objects.get(verb="power.failed").message == finished.error


def test_a_job_delivered_twice_runs_once(machine: Any, queued_power_jobs: list[int]) -> None:
    job = request(machine)
    runs: list[int] = []

    def run(job: PowerJob) -> str:
        runs.append(job.pk)
        return "on"

    services.power_job_run(job_id=job.pk, run=run)
    assert services.power_job_run(job_id=job.pk, run=run) is None
    assert runs == [job.pk]


def test_jobs_that_lost_their_worker_fail_and_free_the_machine(
    machine: Any, queued_power_jobs: list[int], settings: Any
) -> None:
    settings.POWER_JOB_LOST_SECONDS = 600
    job = request(machine)
    later = timezone.now() + timedelta(seconds=601)
    assert services.power_jobs_fail_lost(now=timezone.now()) == 0
    assert services.power_jobs_fail_lost(now=later) == 1
    job.refresh_from_db()
    assert (job.state, job.error) == ("failed", "worker lost: the job never finished")
    assert request(machine, "on").state == "queued"


# --- API ----------------------------------------------------------------------------------------


def test_api_queues_a_job_and_answers_202(
    api: APIClient, machine: Any, queued_power_jobs: list[int]
) -> None:
    response = api.post(
        f"/api/v1/machines/{machine.pk}/power/",
        {"action": "cycle", "boot_device": "pxe"},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["action"], body["boot_device"], body["state"]) == ("cycle", "pxe", "queued")
    busy = api.post(f"/api/v1/machines/{machine.pk}/power/", {"action": "on"}, format="json")
    assert busy.status_code == 409
    assert busy.json()["code"] == "power_job_running"
    bad = api.post(f"/api/v1/machines/{machine.pk}/power/", {"action": "nope"}, format="json")
    assert bad.status_code == 400
    assert "action" in bad.json()


def test_api_lists_jobs_with_a_constant_query_count(
    api: APIClient, machine: Any, queued_power_jobs: list[int], django_assert_max_num_queries: Any
) -> None:
    def jobs_page() -> list[dict[str, Any]]:
        response = api.get("/api/v1/power-jobs/", {"machine": "pw-01", "ordering": "created_at"})
        assert response.status_code == 200
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    services.power_job_run(job_id=request(machine).pk, run=lambda job: "on")
    with django_assert_max_num_queries(4) as one:
        assert len(jobs_page()) == 1
    for _ in range(10):
        services.power_job_run(job_id=request(machine, "status").pk, run=lambda job: "on")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(jobs_page()) == 11


def test_each_bmc_gets_its_own_poll_that_expires_with_the_round(
    machine: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory.power import tasks

    settings.POWER_POLL_SECONDS = 60
    BMCFactory(machine=MachineFactory(hostname="pw-02"))
    sent: list[tuple[list[int], Any]] = []
    monkeypatch.setattr(
        tasks.poll_bmc,
        "apply_async",
        lambda args, expires, **options: sent.append((args, expires)),
    )
    assert tasks.poll_power() == 2
    assert sorted(args[0] for args, _ in sent) == sorted(BMC.objects.values_list("pk", flat=True))
    assert {expires for _, expires in sent} == {60}
