from django.urls import path

from tinkerbell.api import HookosImportView

urlpatterns = [
    path("builds/import-hookos/", HookosImportView.as_view(), name="build-import-hookos"),
]
