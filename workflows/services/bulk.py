"""Commands on many workflows at once (cancelling the rows ticked on the workflow list)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from inventory.models import Machine
from rackpilot.core.actors import Actor
from workflows.models import Workflow
from workflows.services.engine import workflow_cancel
from workflows.states import WORKFLOW_UNFINISHED


@dataclass
class WorkflowBulkResult:
    changed: list[Workflow] = field(default_factory=list)
    unchanged: list[tuple[Workflow, str]] = field(default_factory=list)


@transaction.atomic
def workflow_bulk_cancel(
    *, workflow_ids: Sequence[int], actor: Actor, reason: str = ""
) -> WorkflowBulkResult:
    """Each unfinished workflow of ``workflow_ids`` cancelled as by its own Cancel button; a
    finished one is listed as left alone. Machines, then workflows, are locked in the
    engine's order before any is read, so a workflow that ends meanwhile is seen ended."""
    result = WorkflowBulkResult()
    machine_ids = Workflow.objects.filter(pk__in=workflow_ids).values("machine_id")
    list(Machine.objects.select_for_update().filter(pk__in=machine_ids).order_by("pk").values("pk"))
    workflows = (
        Workflow.objects.select_for_update(of=("self",))
        .select_related("machine", "template")
        .filter(pk__in=workflow_ids)
        .order_by("pk")
    )
    for workflow in workflows:
        if workflow.state not in WORKFLOW_UNFINISHED:
            result.unchanged.append((workflow, f"already {workflow.get_state_display().lower()}"))
            continue
        result.changed.append(workflow_cancel(workflow=workflow, actor=actor, reason=reason))
    return result
