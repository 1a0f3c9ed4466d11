from django.urls import path

from workflows import views, views_analytics
from workflows.views_lists import workflow_bulk_cancel_page, workflow_list_export

app_name = "workflows-ui"

urlpatterns = [
    path("templates/", views.template_list, name="template-list"),
    path("templates/new/", views.template_create, name="template-create"),
    path("templates/<int:pk>/", views.template_detail, name="template-detail"),
    path("templates/<int:pk>/edit/", views.template_edit, name="template-edit"),
    path("templates/<int:pk>/delete/", views.template_delete, name="template-delete"),
    path("workflows/", views.workflow_list, name="workflow-list"),
    path("overview/charts.json", views_analytics.overview_charts, name="overview-charts"),
    path("overview/phases/", views_analytics.phase_summary, name="phase-summary"),
    path(
        "machines/<int:machine_pk>/phases/",
        views_analytics.machine_phase_card,
        name="machine-phase-card",
    ),
    path(
        "workflows/<int:pk>/phases/",
        views_analytics.workflow_phase_card,
        name="workflow-phase-card",
    ),
    path("workflows/bulk/", views.workflow_bulk, name="workflow-bulk"),
    path("workflows/bulk/cancel/", workflow_bulk_cancel_page, name="workflow-bulk-cancel"),
    path("workflows/export.csv", workflow_list_export, name="workflow-list-export"),
    path("workflows/start/<int:machine_pk>/", views.workflow_start, name="workflow-start"),
    path("workflows/<int:pk>/", views.workflow_detail, name="workflow-detail"),
    path("workflows/<int:pk>/live/", views.workflow_live, name="workflow-live"),
    path("workflows/<int:pk>/cancel/", views.workflow_cancel, name="workflow-cancel"),
    path("workflows/<int:pk>/retry/", views.workflow_retry, name="workflow-retry"),
    path("workflows/<int:pk>/rerun/", views.workflow_rerun, name="workflow-rerun"),
]
