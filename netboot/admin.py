from django.contrib import admin

from netboot import discovery
from netboot.models import DiscoveryRule
from rackpilot.core.admin_services import ServiceModelAdmin


@admin.register(DiscoveryRule)
class DiscoveryRuleAdmin(ServiceModelAdmin):
    create_service = discovery.discovery_rule_create
    update_service = discovery.discovery_rule_update
    delete_service = discovery.discovery_rule_delete
    instance_kwarg = "rule"
    service_fields = discovery.RULE_FIELDS

    list_display = ["name", "priority", "enabled", "template", "disable_pxe_on_success"]
    list_filter = ["enabled"]
    search_fields = ["name", "description", "conditions", "template__name"]
    list_select_related = ["template"]
    readonly_fields = ["created_at", "updated_at"]
