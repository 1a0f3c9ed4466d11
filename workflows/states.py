"""Workflow and action lifecycles (DESIGN §4) as transition tables."""

from django.db import models

from rackpilot.core.statemachine import StateMachine, TransitionError


class WorkflowState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    TIMEOUT = "timeout", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


class ActionState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    TIMEOUT = "timeout", "Timed out"
    SKIPPED = "skipped", "Skipped"


class WorkflowStateViolation(TransitionError):
    code = "workflow_state_violation"


class ActionStateViolation(TransitionError):
    code = "action_state_violation"


W = WorkflowState
A = ActionState

WORKFLOW_FINISHED = frozenset({W.SUCCESS, W.FAILED, W.TIMEOUT, W.CANCELLED})
# A machine has at most one of these at a time.
WORKFLOW_UNFINISHED = frozenset({W.PENDING, W.RUNNING})
WORKFLOW_RETRYABLE = frozenset({W.FAILED, W.TIMEOUT, W.CANCELLED})
ACTION_FINISHED = frozenset({A.SUCCESS, A.FAILED, A.TIMEOUT, A.SKIPPED})

WORKFLOW_TRANSITIONS: dict[str, set[str]] = {
    # Failed before it ran: the power job that was to boot the machine failed.
    W.PENDING: {W.RUNNING, W.FAILED, W.CANCELLED},
    W.RUNNING: {W.SUCCESS, W.FAILED, W.TIMEOUT, W.CANCELLED},
    W.SUCCESS: set(),
    # Retry from the failed action: the same workflow goes back to pending.
    W.FAILED: {W.PENDING},
    W.TIMEOUT: {W.PENDING},
    W.CANCELLED: {W.PENDING},
}

ACTION_TRANSITIONS: dict[str, set[str]] = {
    A.PENDING: {A.RUNNING, A.SKIPPED},
    A.RUNNING: {A.SUCCESS, A.FAILED, A.TIMEOUT},
    A.SUCCESS: set(),
    # Retry puts the failed action (and the ones skipped after it) back to pending.
    A.FAILED: {A.PENDING},
    A.TIMEOUT: {A.PENDING},
    A.SKIPPED: {A.PENDING},
}

WORKFLOW_LIFECYCLE = StateMachine(
    entity="workflow", transitions=WORKFLOW_TRANSITIONS, error=WorkflowStateViolation
)
ACTION_LIFECYCLE = StateMachine(
    entity="action", transitions=ACTION_TRANSITIONS, error=ActionStateViolation
)
