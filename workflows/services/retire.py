"""What retiring a machine ends on the workflows side: registered with inventory's
machine_transition (which cannot import this layer) by the app's ready()."""

from __future__ import annotations

from django.utils import timezone

from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from workflows.models import AgentToken, Workflow
from workflows.services.engine import workflow_cancel
from workflows.states import WORKFLOW_UNFINISHED


def machine_retire_workflows(machine: Machine, actor: Actor, reason: str) -> None:
    """Cancel the machine's unfinished workflows and revoke its agent tokens."""
    why = "the machine was retired" + (f" ({reason})" if reason else "")
    for workflow in Workflow.objects.filter(
        machine=machine, state__in=WORKFLOW_UNFINISHED
    ).order_by("pk"):
        workflow_cancel(workflow=workflow, actor=actor, reason=why)
    revoked = AgentToken.objects.filter(machine=machine, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        record_event(
            actor=actor,
            verb="agent_token.revoked",
            obj=machine,
            machine=machine,
            changes={"tokens": revoked},
            message=f"{revoked} agent token{'s' if revoked != 1 else ''} revoked: {why}",
        )
