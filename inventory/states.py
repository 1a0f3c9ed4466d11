"""The machine lifecycle (DESIGN §4) as one transition table."""

from django.db import models

from rackpilot.core.statemachine import StateMachine, TransitionError


class MachineState(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    READY = "ready", "Ready"
    PROVISIONING = "provisioning", "Provisioning"
    PROVISIONED = "provisioned", "Provisioned"
    DEPROVISIONING = "deprovisioning", "Deprovisioning"
    FAILED = "failed", "Failed"
    RETIRED = "retired", "Retired"


class MachineStateViolation(TransitionError):
    code = "machine_state_violation"


S = MachineState
MACHINE_TRANSITIONS: dict[str, set[str]] = {
    S.DISCOVERED: {S.READY},
    S.READY: {S.PROVISIONING},
    S.PROVISIONING: {S.PROVISIONED, S.FAILED},
    S.PROVISIONED: {S.DEPROVISIONING},
    S.DEPROVISIONING: {S.READY, S.FAILED},
    S.FAILED: {S.READY},
    S.RETIRED: set(),
}

MACHINE_LIFECYCLE = StateMachine(
    entity="machine",
    transitions=MACHINE_TRANSITIONS,
    error=MachineStateViolation,
    reachable_from_any={S.RETIRED},
)


class PowerJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"


class PowerJobStateViolation(TransitionError):
    code = "power_job_state_violation"


P = PowerJobState
POWER_JOB_LIFECYCLE = StateMachine(
    entity="power job",
    transitions={
        P.QUEUED: {P.RUNNING, P.FAILED},  # failed straight from queued: its worker was lost
        P.RUNNING: {P.SUCCESS, P.FAILED},
        P.SUCCESS: set(),
        P.FAILED: set(),
    },
    error=PowerJobStateViolation,
)
POWER_JOB_ACTIVE_STATES = frozenset({P.QUEUED, P.RUNNING})
