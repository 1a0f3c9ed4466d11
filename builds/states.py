"""Build lifecycle (DESIGN §4) as a transition table."""

from django.db import models

from rackpilot.core.statemachine import StateMachine, TransitionError


class BuildState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Arch(models.TextChoices):
    X86_64 = "x86_64", "x86_64"
    AARCH64 = "aarch64", "aarch64"


class BuildStateViolation(TransitionError):
    code = "build_state_violation"


B = BuildState

BUILD_FINISHED = frozenset({B.SUCCESS, B.FAILED, B.CANCELLED})
BUILD_UNFINISHED = frozenset({B.QUEUED, B.RUNNING})

BUILD_TRANSITIONS: dict[str, set[str]] = {
    # queued → failed: the task could not even start (recipe gone, worker lost before start).
    B.QUEUED: {B.RUNNING, B.CANCELLED, B.FAILED},
    B.RUNNING: {B.SUCCESS, B.FAILED, B.CANCELLED},
    B.SUCCESS: set(),
    B.FAILED: set(),
    B.CANCELLED: set(),
}

BUILD_LIFECYCLE = StateMachine(
    entity="build", transitions=BUILD_TRANSITIONS, error=BuildStateViolation
)
