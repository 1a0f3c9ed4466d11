"""Reads of the workflows app that keep query counts flat."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from workflows.models import Action, Task, Template, Workflow


def template_list() -> QuerySet[Template]:
    return Template.objects.order_by("name")


def workflow_list() -> QuerySet[Workflow]:
    return Workflow.objects.select_related("template", "machine").order_by("-created_at", "-id")


def workflow_detail() -> QuerySet[Workflow]:
    return workflow_list().prefetch_related(
        Prefetch(
            "tasks",
            queryset=Task.objects.order_by("order").prefetch_related(
                Prefetch("actions", queryset=Action.objects.order_by("order"))
            ),
        )
    )
