from django.urls import path
from rest_framework.routers import DefaultRouter

from workflows.agent_protocol import rest as agent
from workflows.api import analytics, logs, viewsets

router = DefaultRouter()
router.register("templates", viewsets.TemplateViewSet, basename="template")
router.register("workflows", viewsets.WorkflowViewSet, basename="workflow")

urlpatterns = [
    *router.urls,
    path("actions/<int:action_id>/logs/", logs.ActionLogView.as_view(), name="action-logs"),
    path("analytics/phases/", analytics.PhaseSummaryView.as_view(), name="analytics-phases"),
    path(
        "workflows/<int:workflow_id>/phases/",
        analytics.WorkflowPhasesView.as_view(),
        name="workflow-phases",
    ),
    path(
        "actions/<int:action_id>/logs.txt",
        logs.ActionLogTextView.as_view(),
        name="action-logs-text",
    ),
    path(
        "workflows/<int:workflow_id>/logs.txt",
        logs.WorkflowLogTextView.as_view(),
        name="workflow-logs-text",
    ),
    path("agent/hello/", agent.HelloView.as_view(), name="agent-hello"),
    path("agent/next-action/", agent.NextActionView.as_view(), name="agent-next-action"),
    path(
        "agent/actions/<int:action_id>/state/",
        agent.ActionStateView.as_view(),
        name="agent-action-state",
    ),
    path("agent/actions/<int:action_id>/logs/", agent.LogsView.as_view(), name="agent-logs"),
    path("agent/hardware/", agent.HardwareView.as_view(), name="agent-hardware"),
    path("agent/token/renew/", agent.RenewTokenView.as_view(), name="agent-token-renew"),
]
