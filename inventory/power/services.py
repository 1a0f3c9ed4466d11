"""Power jobs: every power change to a machine goes through here.

A request is stored as a queued PowerJob and handed to Celery after the commit; the worker
talks to the BMC outside any transaction (a BMC can take many seconds, and no row lock may be
held that long), then records how it ended. One job per machine at a time: a second request
while one is queued or running is refused (409) rather than racing it on the BMC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory.models import BMC, Machine, PowerJob
from inventory.power.drivers import (
    BmcAccess,
    BootDevice,
    PowerAction,
    PowerError,
    driver_for,
    redact,
)
from inventory.states import POWER_JOB_ACTIVE_STATES, POWER_JOB_LIFECYCLE, PowerJobState
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.enqueue import send_task
from rackpilot.core.events import record_event
from rackpilot.core.queues import power_queue
from rackpilot.core.services import lock

POWER = Actor.system("power")
logger = logging.getLogger(__name__)
# Actions whose result is a power state worth recording right away (the others change it).
STATE_AFTER = {
    PowerJob.Action.ON: BMC.PowerState.ON,
    PowerJob.Action.OFF: BMC.PowerState.OFF,
    PowerJob.Action.SOFT_OFF: "",  # the OS may refuse or take long: the poll will tell
    PowerJob.Action.CYCLE: BMC.PowerState.ON,
    PowerJob.Action.RESET: BMC.PowerState.ON,
    PowerJob.Action.STATUS: "",
    PowerJob.Action.INVENTORY: "",
}


class PowerBusyError(ConflictError):
    code = "power_job_running"


def bmc_access(bmc: BMC) -> BmcAccess:
    return BmcAccess(
        protocol=bmc.protocol,
        address=bmc.address,
        port=bmc.port,
        username=bmc.username,
        password=bmc.get_password() if bmc.has_password else "",
        verify_tls=bmc.verify_tls,
        redfish_system_id=bmc.redfish_system_id,
    )


def enqueue_power_job(job_id: int) -> None:
    """Hand the job to Celery (called after the commit; tests replace it). A broker that stays
    away is logged, and ``power_jobs_requeue_queued`` sends the job again."""
    from inventory.power.tasks import run_power_job

    send_task(run_power_job, args=[job_id], queue=power_queue_of_job(job_id))


def power_queue_of_job(job_id: int) -> str | None:
    """The job's site queue when power queues are per site; None leaves it to the route."""
    if not settings.CELERY_POWER_QUEUE_PER_SITE:
        return None
    jobs = PowerJob.objects.filter(pk=job_id)
    slug = jobs.values_list("machine__rack__site__slug", flat=True).first()
    return power_queue(slug)


def power_check_idle(*, machine: Machine) -> None:
    """PowerBusyError, naming the job, while one is queued or running for the machine. Callers
    hold the machine's lock, as every request does, so the answer holds until they write."""
    running = machine.power_jobs.filter(state__in=POWER_JOB_ACTIVE_STATES).first()
    if running is not None:
        raise PowerBusyError(
            f"{running} on {machine.hostname} is still {running.state}; wait for it to finish."
        )


JobListener = Callable[[PowerJob], None]
_JOB_LISTENERS: list[JobListener] = []


def register_job_listener(listener: JobListener) -> None:
    """Call ``listener(job)`` whenever a power job ends (succeeded or failed), inside the
    transaction that ended it: a higher layer (workflows) reacts to the jobs it asked for by
    their ``purpose`` without this app knowing it."""
    if listener not in _JOB_LISTENERS:
        _JOB_LISTENERS.append(listener)


def _tell_listeners(job: PowerJob) -> None:
    for listener in _JOB_LISTENERS:
        listener(job)


@transaction.atomic
def power_job_request(
    *,
    machine: Machine,
    action: str,
    actor: Actor,
    boot_device: str = "",
    persistent: bool = False,
    reason: str = "",
    purpose: str = "",
) -> PowerJob:
    """Queue a power job; ValidationError names the field, PowerBusyError if one is running.
    ``purpose`` tells the job listeners who is waiting for it (see ``register_job_listener``)."""
    machine = lock(machine)
    if action not in PowerJob.Action.values:
        raise ValidationError(
            {"action": f"Unknown power action '{action}' (one of {', '.join(PowerJob.Action)})."}
        )
    if boot_device not in PowerJob.BootDevice.values:
        raise ValidationError({"boot_device": f"Unknown boot device '{boot_device}'."})
    bmc = BMC.objects.filter(machine=machine).first()
    if bmc is None:
        raise ValidationError({"bmc": f"{machine.hostname} has no BMC to send power commands to."})
    if action == PowerJob.Action.INVENTORY and bmc.protocol != BMC.Protocol.REDFISH:
        raise ValidationError(
            {"action": f"{machine.hostname}'s BMC speaks IPMI, which reports no inventory."}
        )
    power_check_idle(machine=machine)
    job = PowerJob.objects.create(
        machine=machine,
        action=action,
        boot_device=boot_device,
        persistent=persistent,
        purpose=purpose,
        requested_by=actor.name[:150],
        reason=reason[:200],
    )
    record_event(
        actor=actor,
        verb="power.requested",
        obj=job,
        machine=machine,
        # [before, after] pairs, as every event's changes are (the timeline shows them so).
        changes={
            "action": [None, action],
            "boot_device": [None, boot_device],
            "persistent": [None, persistent],
        },
        message=reason,
    )
    job_id = job.pk
    transaction.on_commit(lambda: enqueue_power_job(job_id))
    return job


@dataclass
class PowerBulkResult:
    queued: list[PowerJob] = field(default_factory=list)
    refused: list[tuple[Machine, str]] = field(default_factory=list)


def power_jobs_request_bulk(
    *,
    machines: Iterable[Machine],
    action: str,
    actor: Actor,
    boot_device: str = "",
    persistent: bool = False,
    reason: str = "",
) -> PowerBulkResult:
    """One job per machine, each on its own: unlike a bulk workflow start, a machine without a
    BMC or with a job running does not hold back the others' power commands (an operator
    cycling a rack wants every machine that can be cycled cycled), and is listed as refused."""
    result = PowerBulkResult()
    for machine in machines:
        try:
            result.queued.append(
                power_job_request(
                    machine=machine,
                    action=action,
                    actor=actor,
                    boot_device=boot_device,
                    persistent=persistent,
                    reason=reason,
                )
            )
        except ValidationError as exc:
            result.refused.append((machine, "; ".join(exc.messages)))
        except PowerBusyError as exc:
            result.refused.append((machine, str(exc)))
    return result


@transaction.atomic
def _start(job_id: int) -> PowerJob | None:
    job = (
        PowerJob.objects.select_for_update(of=("self",))
        .select_related("machine__bmc")
        .get(pk=job_id)
    )
    if job.state != PowerJobState.QUEUED:
        return None  # delivered twice: the first delivery runs it
    POWER_JOB_LIFECYCLE.check(job.state, PowerJobState.RUNNING)
    job.state = PowerJobState.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["state", "started_at"])
    return job


@transaction.atomic
def _finish(job: PowerJob, *, error: str, power_state: str) -> PowerJob:
    job = lock(job)
    target = PowerJobState.FAILED if error else PowerJobState.SUCCESS
    POWER_JOB_LIFECYCLE.check(job.state, target)
    job.state = target
    job.error = error
    job.power_state = power_state
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "error", "power_state", "finished_at"])
    if power_state:
        bmc_record_power_state(bmc=job.machine.bmc, power_state=power_state)
    record_event(
        actor=POWER,
        verb="power.failed" if error else "power.succeeded",
        obj=job,
        machine=job.machine,
        changes={"state": [PowerJobState.RUNNING, job.state], "power_state": [None, power_state]},
        message=error or f"{job.get_action_display()} done",
    )
    _tell_listeners(job)
    return job


def _run(job: PowerJob) -> str:
    """Talk to the BMC; returns the power state to record ('' when not known yet)."""
    driver = driver_for(bmc_access(job.machine.bmc), timeout=settings.POWER_BMC_TIMEOUT_SECONDS)
    if job.boot_device:
        driver.set_boot_device(BootDevice(job.boot_device), persistent=job.persistent)
    if job.action == PowerJob.Action.STATUS:
        return driver.power_state()
    if job.action == PowerJob.Action.INVENTORY:
        bmc_record_inventory(bmc=job.machine.bmc, inventory=driver.inventory())
        return driver.power_state()
    driver.power(PowerAction(job.action))
    return str(STATE_AFTER[PowerJob.Action(job.action)])


def power_job_run(*, job_id: int, run: Callable[[PowerJob], str] = _run) -> PowerJob | None:
    """Run a queued job (the Celery task calls this). Never raises for a BMC's refusal: that
    is the job's failure, recorded with the BMC's message."""
    job = _start(job_id)
    if job is None:
        return None
    try:
        power_state = run(job)
    except PowerError as exc:
        return _finish(job, error=str(exc), power_state="")
    except Exception as exc:
        # A fault of ours or of a library: the job must still end (else the machine takes no
        # power request until the lost-job sweep), and the worker's log gets the traceback.
        password = job.machine.bmc.get_password() if job.machine.bmc.has_password else ""
        error = redact(f"unexpected error: {type(exc).__name__}: {exc}", password)
        _finish(job, error=error, power_state="")
        raise
    return _finish(job, error="", power_state=power_state)


@transaction.atomic
def bmc_record_inventory(*, bmc: BMC, inventory: dict[str, Any]) -> BMC:
    """Keep what the BMC reported; an event only when it changed."""
    bmc = lock(bmc)
    changed = inventory != bmc.inventory
    bmc.inventory = inventory
    bmc.inventory_at = timezone.now()
    bmc.save(update_fields=["inventory", "inventory_at"])
    if changed:
        record_event(
            actor=POWER,
            verb="bmc.inventory_read",
            obj=bmc,
            machine=bmc.machine_id,
            message="the BMC reported the machine's hardware",
        )
    return bmc


@transaction.atomic
def bmc_record_power_state(*, bmc: BMC, power_state: str) -> BMC:
    """What the BMC says now; an event only when it changed."""
    bmc = lock(bmc)
    previous = bmc.power_state
    bmc.power_state = power_state
    bmc.power_state_at = timezone.now()
    bmc.save(update_fields=["power_state", "power_state_at"])
    if previous != power_state:
        record_event(
            actor=POWER,
            verb="bmc.power_state_changed",
            obj=bmc,
            machine=bmc.machine_id,
            changes={"power_state": [previous, power_state]},
        )
    return bmc


def bmc_poll(*, bmc_id: int) -> str:
    """Read one BMC's power state (the beat schedule polls every BMC); 'unknown' when it
    cannot be reached, so a dead BMC shows as such instead of its last good answer."""
    bmc = BMC.objects.get(pk=bmc_id)
    try:
        state = driver_for(
            bmc_access(bmc), timeout=settings.POWER_POLL_TIMEOUT_SECONDS
        ).power_state()
    except PowerError:
        state = BMC.PowerState.UNKNOWN
    except Exception:
        logger.exception("polling %s failed unexpectedly", bmc)
        state = BMC.PowerState.UNKNOWN
    bmc_record_power_state(bmc=bmc, power_state=state)
    return state


@transaction.atomic
def power_jobs_requeue_queued(*, now: datetime | None = None) -> tuple[int, int]:
    """Jobs still queued after POWER_JOB_QUEUED_REQUEUE_SECONDS never reached a worker (the
    broker lost the message, or the enqueue after the commit failed): each is sent once more,
    and failed if it is still queued that long after. Returns (re-sent, failed).

    A second re-send is never tried: a power command minutes late (a machine switched off
    long after the operator asked, maybe after they powered it on by hand) does more harm
    than one that visibly failed and can be asked for again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.POWER_JOB_QUEUED_REQUEUE_SECONDS)
    overdue = PowerJob.objects.filter(state=PowerJobState.QUEUED).filter(
        Q(requeued_at__isnull=True, created_at__lt=cutoff) | Q(requeued_at__lt=cutoff)
    )
    # skip_locked: a job a worker is starting right now is not lost, and a second sweep
    # running at the same time leaves the rows this one holds alone (no double send).
    jobs = list(overdue.select_for_update(skip_locked=True).order_by("pk"))
    requeued = failed = 0
    for job in jobs:
        if job.requeued_at is None:
            job.requeued_at = now
            job.save(update_fields=["requeued_at"])
            record_event(
                actor=POWER,
                verb="power.requeued",
                obj=job,
                machine=job.machine_id,
                message="still queued: no worker took it; sent to the workers again",
            )
            transaction.on_commit(partial(enqueue_power_job, job.pk))
            requeued += 1
            continue
        POWER_JOB_LIFECYCLE.check(job.state, PowerJobState.FAILED)
        job.state = PowerJobState.FAILED
        job.error = (
            "never picked up by a worker, even after it was sent again; not run late — "
            "request it again if it is still wanted"
        )
        job.finished_at = now
        job.save(update_fields=["state", "error", "finished_at"])
        record_event(
            actor=POWER,
            verb="power.failed",
            obj=job,
            machine=job.machine_id,
            changes={"state": [PowerJobState.QUEUED, PowerJobState.FAILED]},
            message=job.error,
        )
        _tell_listeners(job)
        failed += 1
    return requeued, failed


@transaction.atomic
def power_jobs_fail_lost(*, now: datetime | None = None) -> int:
    """Jobs queued or running far longer than any BMC takes lost their worker: fail them, so
    the machine takes power requests again."""
    deadline = (now or timezone.now()) - timedelta(seconds=settings.POWER_JOB_LOST_SECONDS)
    # Only the lost rows are read and locked; skip_locked: a job a worker is ending right now
    # holds its row and is not lost, and a second sweep leaves these rows alone.
    lost = (
        PowerJob.objects.filter(state__in=POWER_JOB_ACTIVE_STATES, created_at__lt=deadline)
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("pk")
    )
    count = 0
    for job in lost:
        POWER_JOB_LIFECYCLE.check(job.state, PowerJobState.FAILED)
        job.state = PowerJobState.FAILED
        job.error = "worker lost: the job never finished"
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "error", "finished_at"])
        record_event(
            actor=POWER, verb="power.failed", obj=job, machine=job.machine_id, message=job.error
        )
        _tell_listeners(job)
        count += 1
    return count
