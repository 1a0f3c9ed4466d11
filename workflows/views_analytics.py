"""Dashboard endpoints of the overview's workflow charts and provisioning phases."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from inventory.models import Machine
from rackpilot.core.access import requires
from workflows import overview, phases
from workflows.models import Workflow


@requires("workflows.view_workflow")
def overview_charts(request: HttpRequest) -> JsonResponse:
    """The overview charts' data, fetched again by the page when a workflow finishes."""
    return JsonResponse(overview.cached_chart_data())


@requires("workflows.view_workflow")
def phase_summary(request: HttpRequest) -> HttpResponse:
    """The phase table again, grouped as the overview's select asks."""
    context = overview.phases_context(request)
    return render(
        request, "workflows/partials/phase_summary.html", {"summary": context["phase_summary"]}
    )


# Over the usual p95 by this share and this many seconds: a few seconds more of a short phase
# is noise, not something to look into.
SLOW_SHARE = 1.1
SLOW_SECONDS = 5.0


def is_slow(phase: phases.Phase, usual: phases.PhaseStats) -> bool:
    return phase.seconds > usual.p95 * SLOW_SHARE and phase.seconds - usual.p95 >= SLOW_SECONDS


def _since() -> datetime:
    return timezone.now() - timedelta(days=overview.PHASE_DAYS)


@requires("workflows.view_workflow")
def machine_phase_card(request: HttpRequest, machine_pk: int) -> HttpResponse:
    """The machine page's phases: this machine's workflows beside all of its hardware model's."""
    machine = get_object_or_404(Machine, pk=machine_pk)
    model = phases.model_of(machine.pk)
    since = _since()
    summary = phases.side_by_side(
        [
            (
                "This machine",
                overview.cached(
                    f"phases:machine:{machine.pk}",
                    lambda: phases.phase_summary(machine.workflows.all(), since=since),
                ),
            ),
            (
                f"All {model}",
                overview.cached(
                    f"phases:model:{model}",
                    lambda: phases.phase_summary(
                        phases.of_model(Workflow.objects.all(), model), since=since
                    ),
                ),
            ),
        ]
    )
    context = {"summary": summary, "phase_days": overview.PHASE_DAYS}
    return render(request, "workflows/partials/machine_phases.html", context)


@requires("workflows.view_workflow")
def workflow_phase_card(request: HttpRequest, pk: int) -> HttpResponse:
    """A workflow's phases, each beside the p50/p95 of its template's recent workflows."""
    workflow = get_object_or_404(Workflow.objects.select_related("template"), pk=pk)
    since = _since()
    # The template's usual, itself included: one summary per template, kept until a workflow
    # finishes, rather than one per workflow page.
    reference = overview.cached(
        f"phases:template:{workflow.template_id}",
        lambda: phases.phase_summary(
            Workflow.objects.filter(template_id=workflow.template_id), since=since
        ),
    )
    usual = reference.groups[0] if reference.groups else None
    rows = []
    for phase in phases.workflow_phases(workflow):
        stats = usual.stats(phase.key) if usual else None
        rows.append(
            {"phase": phase, "usual": stats, "slow": stats is not None and is_slow(phase, stats)}
        )
    context = {
        "workflow": workflow,
        "rows": rows,
        "reference_runs": reference.workflows,
        "phase_days": overview.PHASE_DAYS,
    }
    return render(request, "workflows/partials/workflow_phases.html", context)
