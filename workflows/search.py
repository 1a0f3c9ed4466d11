"""What the global search finds among workflows (``#12``, ``12``, an imported name) and
templates (by name)."""

from __future__ import annotations

from django.urls import reverse

from rackpilot.core.search import SearchHit, object_number
from workflows.models import Template, Workflow


def search_workflows(query: str, limit: int) -> list[SearchHit]:
    number = object_number(query)
    workflows = Workflow.objects.select_related("machine", "template")
    found = (
        workflows.filter(pk=number)
        if number is not None
        else workflows.filter(imported_name__icontains=query).order_by("-pk")
    )
    return [
        SearchHit(
            kind="Workflow",
            label=f"#{workflow.pk} {workflow.template.name}",
            url=reverse("workflows-ui:workflow-detail", args=[workflow.pk]),
            detail=f"{workflow.get_state_display()} on {workflow.machine.hostname}",
            exact=number is not None or workflow.imported_name.lower() == query.lower(),
        )
        for workflow in found[:limit]
    ]


def search_templates(query: str, limit: int) -> list[SearchHit]:
    templates = Template.objects.filter(name__icontains=query).order_by("name")
    return [
        SearchHit(
            kind="Template",
            label=template.name,
            url=reverse("workflows-ui:template-detail", args=[template.pk]),
            exact=template.name.lower() == query.lower(),
        )
        for template in templates[:limit]
    ]
