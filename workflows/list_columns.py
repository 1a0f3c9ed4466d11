"""The rows and columns of the workflow list and of its CSV export (nothing of a workflow's
rendered spec, template body or action environments: those can hold secrets)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.fields.json import KT

from rackpilot.core.columns import Column, column_set
from workflows import selectors
from workflows.models import Workflow


def workflow_list_rows() -> QuerySet[Workflow]:
    # The list needs the workflow's name, not its whole rendered spec and bodies.
    return (
        selectors.workflow_list()
        .annotate(spec_name=KT("spec__name"))
        .defer("spec", "template_body", "rendered", "template__body")
    )


def _failure(workflow: Workflow) -> str:
    failure = workflow.failure_reason or {}
    if not failure or workflow.state == "success":
        return ""
    parts = [str(failure.get("action") or "")]
    if failure.get("exit_code") is not None:
        parts.append(f"exit {failure['exit_code']}")
    head = " ".join(part for part in parts if part)
    message = str(failure.get("message") or "")
    return f"{head}: {message}" if head and message else head or message


WORKFLOW_COLUMNS = column_set(
    "workflows",
    [
        Column("id", "#", lambda w: w.pk, sort="id", locked=True),
        Column("name", "Name", lambda w: getattr(w, "spec_name", None) or w.template.name),
        Column("machine", "Machine", lambda w: w.machine.hostname, sort="machine"),
        Column("template", "Template", lambda w: w.template.name, sort="template"),
        Column("state", "State", lambda w: w.state, sort="state"),
        Column("attempt", "Try", lambda w: w.attempt, default=False),
        Column("created", "Created", lambda w: w.created_at, sort="created"),
        Column("started", "Started", lambda w: w.started_at, sort="started", default=False),
        Column("finished", "Finished", lambda w: w.finished_at, sort="finished", default=False),
        Column("duration", "Duration", lambda w: w.duration),
        Column("failure", "Failure", _failure),
    ],
)
