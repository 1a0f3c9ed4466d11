"""Power control's pages; inventory/urls.py splices them into the dashboard's URLs."""

from django.urls import path

from inventory.power import views

urlpatterns = [
    path("machines/power/", views.machine_power_bulk, name="machine-power-bulk"),
    path("machines/<int:pk>/power/", views.machine_power, name="machine-power"),
    path(
        "machines/<int:pk>/power/card/",
        views.machine_power_card,
        name="machine-power-card",
    ),
    path("power-jobs/", views.power_job_list, name="power-job-list"),
]
