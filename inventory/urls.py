from django.urls import path

from inventory import views, views_power

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("sites/", views.site_list, name="site-list"),
    path("racks/", views.rack_list, name="rack-list"),
    path("racks/<int:pk>/", views.rack_detail, name="rack-detail"),
    path("machines/", views.machine_list, name="machine-list"),
    path("machines/import/", views.machine_import, name="machine-import"),
    path("machines/power/", views_power.machine_power_bulk, name="machine-power-bulk"),
    path("machines/<int:pk>/", views.machine_detail, name="machine-detail"),
    path("machines/<int:pk>/transition/", views.machine_transition, name="machine-transition"),
    path("machines/<int:pk>/power/", views_power.machine_power, name="machine-power"),
    path(
        "machines/<int:pk>/power/card/",
        views_power.machine_power_card,
        name="machine-power-card",
    ),
    path("power-jobs/", views_power.power_job_list, name="power-job-list"),
]
