from django.urls import path

from inventory import views
from inventory.power import urls as power_urls

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("sites/", views.site_list, name="site-list"),
    path("racks/", views.rack_list, name="rack-list"),
    path("racks/<int:pk>/", views.rack_detail, name="rack-detail"),
    path("machines/", views.machine_list, name="machine-list"),
    path("machines/import/", views.machine_import, name="machine-import"),
    path("machines/<int:pk>/", views.machine_detail, name="machine-detail"),
    path("machines/<int:pk>/transition/", views.machine_transition, name="machine-transition"),
    # Power control's pages, under the same "dashboard" names.
    *power_urls.urlpatterns,
]
