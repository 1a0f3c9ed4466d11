from django.urls import path

from inventory import views
from inventory.power import views as power_views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("sites/", views.site_list, name="site-list"),
    path("racks/", views.rack_list, name="rack-list"),
    path("racks/<int:pk>/", views.rack_detail, name="rack-detail"),
    path("machines/", views.machine_list, name="machine-list"),
    path("machines/import/", views.machine_import, name="machine-import"),
    path("machines/power/", power_views.machine_power_bulk, name="machine-power-bulk"),
    path("machines/<int:pk>/", views.machine_detail, name="machine-detail"),
    path("machines/<int:pk>/transition/", views.machine_transition, name="machine-transition"),
    path("machines/<int:pk>/power/", power_views.machine_power, name="machine-power"),
    path(
        "machines/<int:pk>/power/card/",
        power_views.machine_power_card,
        name="machine-power-card",
    ),
    path("power-jobs/", power_views.power_job_list, name="power-job-list"),
]
