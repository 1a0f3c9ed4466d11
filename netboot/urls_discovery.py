from django.urls import path

from netboot import views_dhcp
from netboot import views_discovery as views

app_name = "discovery"

urlpatterns = [
    path("discovery/", views.discovery_overview, name="overview"),
    path("discovery/dhcp-export/", views_dhcp.dhcp_export, name="dhcp-export"),
    path("discovery/rules/new/", views.rule_create, name="rule-create"),
    path("discovery/rules/<int:pk>/", views.rule_detail, name="rule-detail"),
    path("discovery/rules/<int:pk>/edit/", views.rule_edit, name="rule-edit"),
    path("discovery/rules/<int:pk>/delete/", views.rule_delete, name="rule-delete"),
    path("discovery/rules/<int:pk>/apply/", views.rule_apply, name="rule-apply"),
    path("machines/<int:pk>/accept/", views.machine_accept, name="machine-accept"),
]
