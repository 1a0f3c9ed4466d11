"""Log lines over REST: cursor-paginated JSON per action, and plain-text downloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from rackpilot.core.log_text import lines_by_seq, text_attachment
from workflows.models import Action, LogLine, Workflow
from workflows.selectors import action_log


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = LogLine
        fields = ["seq", "stream", "timestamp", "text"]


class SeqCursorPagination(CursorPagination):
    ordering = "seq"
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10_000


def _attempt(request: Request, action: Action) -> int:
    raw = request.query_params.get("attempt")
    if raw is None:
        return action.attempt
    if not raw.isdigit() or int(raw) < 1:
        raise serializers.ValidationError({"attempt": "A positive whole number."})
    return int(raw)


@extend_schema(
    parameters=[OpenApiParameter("attempt", int, description="Default: the current attempt.")]
)
class ActionLogView(generics.ListAPIView):
    """The lines of one action attempt, oldest first, with an opaque cursor to page on."""

    required_permissions = ("workflows.view_workflow",)
    serializer_class = LogLineSerializer
    pagination_class = SeqCursorPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        action = get_object_or_404(Action, pk=self.kwargs["action_id"])
        return action_log(action, attempt=_attempt(self.request, action))


def _text_lines(actions: list[Action]) -> Iterator[str]:
    for action in actions:
        yield f"==> {action.task.name} / {action.name} (attempt {action.attempt}, {action.state})\n"
        for line in lines_by_seq(action_log(action)):
            prefix = "[stderr] " if line.stream == LogLine.Stream.STDERR else ""
            yield f"{line.timestamp.isoformat()} {prefix}{line.text}\n"


def _download(actions: list[Action], filename: str) -> StreamingHttpResponse:
    return text_attachment(_text_lines(actions), filename)


class ActionLogTextView(APIView):
    required_permissions = ("workflows.view_workflow",)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request: Request, action_id: int) -> StreamingHttpResponse:
        action = get_object_or_404(Action.objects.select_related("task"), pk=action_id)
        return _download([action], f"action-{action.pk}-attempt-{action.attempt}.log")


class WorkflowLogTextView(APIView):
    required_permissions = ("workflows.view_workflow",)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request: Request, workflow_id: int) -> StreamingHttpResponse:
        workflow = get_object_or_404(Workflow, pk=workflow_id)
        actions = list(
            Action.objects.filter(task__workflow=workflow).select_related("task").order_by("order")
        )
        return _download(actions, f"workflow-{workflow.pk}.log")
