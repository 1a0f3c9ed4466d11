from django.urls import path

from inventory import views, views_forms
from inventory.power import urls as power_urls
from inventory.views_bulk import (
    machine_bulk_pxe_allow,
    machine_bulk_pxe_deny,
    machine_bulk_retire,
    machine_bulk_tag,
)
from inventory.views_lists import machine_list_export, power_job_list_export

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("overview/live/", views.overview_live, name="overview-live"),
    path("sites/", views.site_list, name="site-list"),
    path("racks/", views.rack_list, name="rack-list"),
    path("racks/<int:pk>/", views.rack_detail, name="rack-detail"),
    path("machines/", views.machine_list, name="machine-list"),
    path("machines/export.csv", machine_list_export, name="machine-list-export"),
    path("machines/import/", views.machine_import, name="machine-import"),
    path("machines/<int:pk>/", views.machine_detail, name="machine-detail"),
    path("machines/<int:pk>/transition/", views.machine_transition, name="machine-transition"),
    # Creating and editing the inventory; the site page with its racks side by side.
    path("sites/new/", views_forms.site_create, name="site-create"),
    path("sites/<int:pk>/", views_forms.site_detail, name="site-detail"),
    path("sites/<int:pk>/edit/", views_forms.site_edit, name="site-edit"),
    path("racks/new/", views_forms.rack_create, name="rack-create"),
    path("racks/<int:pk>/edit/", views_forms.rack_edit, name="rack-edit"),
    path("machines/new/", views_forms.machine_create, name="machine-create"),
    path("machines/<int:pk>/edit/", views_forms.machine_edit, name="machine-edit"),
    path(
        "machines/<int:machine_pk>/interfaces/new/",
        views_forms.interface_create,
        name="interface-create",
    ),
    path("interfaces/<int:pk>/edit/", views_forms.interface_edit, name="interface-edit"),
    path("interfaces/<int:pk>/delete/", views_forms.interface_delete, name="interface-delete"),
    path("machines/<int:machine_pk>/disks/new/", views_forms.disk_create, name="disk-create"),
    path("disks/<int:pk>/edit/", views_forms.disk_edit, name="disk-edit"),
    path("disks/<int:pk>/delete/", views_forms.disk_delete, name="disk-delete"),
    path("machines/<int:machine_pk>/bmc/new/", views_forms.bmc_create, name="bmc-create"),
    path("bmcs/<int:pk>/edit/", views_forms.bmc_edit, name="bmc-edit"),
    path("bmcs/<int:pk>/delete/", views_forms.bmc_delete, name="bmc-delete"),
    path("power-jobs/export.csv", power_job_list_export, name="power-job-list-export"),
    # Commands for the machines ticked on (or filtered by) the machine list.
    path("machines/bulk/pxe-allow/", machine_bulk_pxe_allow, name="machine-bulk-pxe-allow"),
    path("machines/bulk/pxe-deny/", machine_bulk_pxe_deny, name="machine-bulk-pxe-deny"),
    path("machines/bulk/tag/", machine_bulk_tag, name="machine-bulk-tag"),
    path("machines/bulk/retire/", machine_bulk_retire, name="machine-bulk-retire"),
    # Power control's pages, under the same "dashboard" names.
    *power_urls.urlpatterns,
]
