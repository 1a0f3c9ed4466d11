from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from inventory.power.models import PowerJob


@admin.register(PowerJob)
class PowerJobAdmin(admin.ModelAdmin):
    """Power jobs are a record of what was asked of a BMC: read-only here, made by services."""

    list_display = ["__str__", "machine", "state", "power_state", "requested_by", "created_at"]
    list_filter = ["state", "action"]
    search_fields = ["machine__hostname", "requested_by", "error"]
    list_select_related = ["machine"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
