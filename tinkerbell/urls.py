from django.urls import path

from tinkerbell import views

app_name = "tinkerbell"

urlpatterns = [
    path("builds/import-hookos/", views.hookos_import_page, name="hookos-import"),
    path("tinkerbell/import/", views.tinkerbell_import_page, name="import"),
    path("machines/<int:pk>/tinkerbell.yaml", views.machine_export, name="machine-export"),
    path("workflows/<int:pk>/tinkerbell.yaml", views.workflow_export, name="workflow-export"),
]
