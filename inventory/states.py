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
