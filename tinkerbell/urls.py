from django.urls import path

from tinkerbell import views

app_name = "tinkerbell"

urlpatterns = [
    path("builds/import-hookos/", views.hookos_import_page, name="hookos-import"),
]
