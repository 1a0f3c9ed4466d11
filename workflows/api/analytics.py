"""Provisioning phases over the API: one workflow's phases, and p50/p95 per phase grouped by
hardware model, site or template (workflows/phases.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows import phases
from workflows.models import Workflow

MAX_DAYS = 366
MAX_ID = 2**63 - 1  # the database's bigint: a larger id is a 400, not a 500


class PhaseQuerySerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(
        choices=[key for key in phases.GROUPINGS if key], required=False, allow_blank=True
    )
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=30)
    template = serializers.CharField(required=False, help_text="Template name.")
    site = serializers.SlugField(required=False, help_text="Site slug.")
    machine = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Machine id."
    )


PHASE_STATS_FIELDS: dict[str, serializers.Field] = {
    "phase": serializers.CharField(),
    "label": serializers.CharField(),
    "count": serializers.IntegerField(),
    "p50_seconds": serializers.FloatField(),
    "p95_seconds": serializers.FloatField(),
}


def summary_payload(summary: phases.PhaseSummary) -> dict[str, Any]:
    return {
        "group_by": summary.group_by or None,
        "since": summary.since.isoformat(),
        "workflows": summary.workflows,
        "phases": [{"phase": key, "label": label} for key, label in summary.phase_columns],
        "groups": [
            {
                "group": group.name,
                "workflows": group.workflows,
                "phases": [stats.as_dict() for stats in group.phases],
            }
            for group in summary.groups
        ],
    }


class PhaseSummaryView(APIView):
    """p50 and p95 of each provisioning phase over the finished workflows of the last ``days``,
    grouped by hardware model, site or template (or all together). Phases come from the events
    each boot records: power command → iPXE script → kernel → initrd → agent connected → each
    action → next contact after the last action."""

    required_permissions = ("workflows.view_workflow",)

    @extend_schema(
        parameters=[PhaseQuerySerializer],
        responses=inline_serializer(
            "PhaseSummary",
            {
                "group_by": serializers.CharField(allow_null=True),
                "since": serializers.DateTimeField(),
                "workflows": serializers.IntegerField(),
                "phases": serializers.ListField(child=serializers.DictField()),
                "groups": serializers.ListField(
                    child=inline_serializer(
                        "PhaseGroup",
                        {
                            "group": serializers.CharField(),
                            "workflows": serializers.IntegerField(),
                            "phases": serializers.ListField(
                                child=inline_serializer("PhaseStats", PHASE_STATS_FIELDS)
                            ),
                        },
                    )
                ),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = PhaseQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        workflows = Workflow.objects.all()
        if "template" in values:
            workflows = workflows.filter(template__name=values["template"])
        if "site" in values:
            workflows = workflows.filter(machine__rack__site__slug=values["site"])
        if "machine" in values:
            workflows = workflows.filter(machine_id=values["machine"])
        since = timezone.now() - timedelta(days=values["days"])
        summary = phases.phase_summary(
            workflows, group_by=values.get("group_by") or "", since=since
        )
        return Response(summary_payload(summary))


class WorkflowPhasesView(APIView):
    """One workflow's phases, each with its start, end and seconds, in boot order."""

    required_permissions = ("workflows.view_workflow",)

    @extend_schema(
        parameters=[OpenApiParameter("workflow_id", int, OpenApiParameter.PATH)],
        responses=inline_serializer(
            "WorkflowPhase",
            {
                "phase": serializers.CharField(),
                "label": serializers.CharField(),
                "start": serializers.DateTimeField(),
                "end": serializers.DateTimeField(),
                "seconds": serializers.FloatField(),
            },
            many=True,
        ),
    )
    def get(self, request: Request, workflow_id: int) -> Response:
        workflow = get_object_or_404(Workflow, pk=workflow_id)
        return Response(
            [
                {
                    "phase": phase.key,
                    "label": phase.label,
                    "start": phase.start.isoformat(),
                    "end": phase.end.isoformat(),
                    "seconds": round(phase.seconds, 3),
                }
                for phase in phases.workflow_phases(workflow)
            ]
        )
