"""The inventory in the Django admin. Every add, change and delete calls inventory.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from inventory import services
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.admin_secrets import SecretFieldsAdminMixin
from rackpilot.core.admin_services import (
    ServiceInlineMixin,
    ServiceModelAdmin,
    ServiceModelForm,
)
from rackpilot.core.secrets import MACHINE_SECRET_FIELDS
from rackpilot.core.statemachine import TransitionError


@admin.register(Tag)
class TagAdmin(ServiceModelAdmin):
    create_service = services.tag_create
    update_service = services.tag_update
    delete_service = services.tag_delete
    instance_kwarg = "tag"
    service_fields = services.TAG_FIELDS

    list_display = ["name", "slug", "swatch", "description", "machine_count"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(machine_count=Count("machines"))

    @admin.display(description="Colour", ordering="color")
    def swatch(self, tag: Tag) -> str:
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;background:#{};'
            'border-radius:2px;vertical-align:middle"></span> {}',
            tag.color,
            tag.color,
        )

    @admin.display(description="Machines", ordering="machine_count")
    def machine_count(self, tag: Any) -> int:
        return int(tag.machine_count)


@admin.register(Site)
class SiteAdmin(ServiceModelAdmin):
    create_service = services.site_create
    update_service = services.site_update
    delete_service = services.site_delete
    instance_kwarg = "site"
    service_fields = services.SITE_FIELDS

    list_display = ["name", "slug", "facility_code", "address", "rack_count", "machine_count"]
    search_fields = ["name", "slug", "facility_code", "address"]
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                rack_count=Count("racks", distinct=True),
                machine_count=Count("racks__machines", distinct=True),
            )
        )

    @admin.display(description="Racks", ordering="rack_count")
    def rack_count(self, site: Any) -> int:
        return int(site.rack_count)

    @admin.display(description="Machines", ordering="machine_count")
    def machine_count(self, site: Any) -> int:
        return int(site.machine_count)


@admin.register(Rack)
class RackAdmin(ServiceModelAdmin):
    create_service = services.rack_create
    update_service = services.rack_update
    delete_service = services.rack_delete
    instance_kwarg = "rack"
    service_fields = services.RACK_FIELDS

    list_display = ["name", "site", "u_height", "machine_count", "units_used"]
    list_filter = ["site"]
    search_fields = ["name", "site__name", "description"]
    list_select_related = ["site"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rack]:
        return (
            super()
            .get_queryset(request)
            .annotate(machine_count=Count("machines"))
            .prefetch_related("machines")
        )

    @admin.display(description="Machines", ordering="machine_count")
    def machine_count(self, rack: Any) -> int:
        return int(rack.machine_count)

    @admin.display(description="Units used")
    def units_used(self, rack: Rack) -> str:
        used = sum(m.u_height for m in rack.machines.all() if m.position is not None)
        return f"{used}/{rack.u_height}U"


# --- a machine and its parts ---------------------------------------------------------------


class BMCForm(ServiceModelForm):
    """The password is write-only: typed into ``new_password``, stored encrypted, never shown."""

    new_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored password. Stored encrypted, never shown.",
    )

    class Meta:
        model = BMC
        fields = [
            "protocol",
            "address",
            "port",
            "username",
            "new_password",
            "verify_tls",
            "redfish_system_id",
        ]

    def service_values(self, values: dict[str, Any]) -> dict[str, Any]:
        password = self.cleaned_data.get("new_password")
        return {**values, "password": password} if password else values


class NetworkInterfaceForm(ServiceModelForm):
    class Meta:
        model = NetworkInterface
        fields = "__all__"

    def _get_validation_exclusions(self) -> set[str]:
        # The service keeps one boot interface per machine by moving the flag from the old
        # one to the new one; the form's constraint check must not refuse that move.
        return {*super()._get_validation_exclusions(), "is_boot"}  # type: ignore[misc]

    def service_values(self, values: dict[str, Any]) -> dict[str, Any]:
        if self.instance.pk is None and not values.get("is_boot"):
            # An unticked box on a new interface is no preference: the service makes a
            # machine's first interface its boot interface, as the API and importers do.
            return {k: v for k, v in values.items() if k != "is_boot"}
        return values


class BMCDisplay:
    @admin.display(description="Password stored", boolean=True)
    def has_password(self, bmc: BMC) -> bool:
        return bmc.has_password


class NetworkInterfaceInline(ServiceInlineMixin, admin.TabularInline):
    create_service = services.interface_create
    update_service = services.interface_update
    delete_service = services.interface_delete
    instance_kwarg = "interface"
    parent_kwarg = "machine"
    service_fields = services.INTERFACE_FIELDS

    model = NetworkInterface
    form = NetworkInterfaceForm
    extra = 0
    fields = [
        "name",
        "mac",
        "ip",
        "netmask",
        "gateway",
        "nameservers",
        "vlan_id",
        "is_boot",
        "dhcp_enabled",
    ]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "nameservers":
            # The default JSON textarea is far too tall for a table row.
            kwargs["widget"] = forms.Textarea(attrs={"rows": 1, "cols": 24})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class DiskInline(ServiceInlineMixin, admin.TabularInline):
    create_service = services.disk_create
    update_service = services.disk_update
    delete_service = services.disk_delete
    instance_kwarg = "disk"
    parent_kwarg = "machine"
    service_fields = services.DISK_FIELDS

    model = Disk
    extra = 0
    fields = ["device", "size_bytes", "model", "serial"]


class BMCInline(BMCDisplay, ServiceInlineMixin, admin.StackedInline):
    create_service = services.bmc_create
    update_service = services.bmc_update
    delete_service = services.bmc_delete
    instance_kwarg = "bmc"
    parent_kwarg = "machine"
    service_fields = services.BMC_FIELDS

    model = BMC
    form = BMCForm
    extra = 0
    max_num = 1
    readonly_fields = ["has_password", "power_state", "power_state_at"]


@admin.register(Machine)
class MachineAdmin(SecretFieldsAdminMixin, ServiceModelAdmin):
    create_service = services.machine_create
    update_service = services.machine_update
    delete_service = services.machine_delete
    instance_kwarg = "machine"
    service_fields = [*services.MACHINE_FIELDS, "tags"]

    list_display = [
        "hostname",
        "state",
        "site",
        "rack",
        "placement",
        "arch",
        "boot_mac",
        "boot_ip",
        "power_state",
        "allow_pxe",
        "last_seen",
    ]
    list_filter = ["state", "rack__site", "rack", "arch", "allow_pxe", "allow_workflow", "tags"]
    search_fields = [
        "hostname",
        "serial_number",
        "interfaces__mac",
        "interfaces__ip",
        "bmc__address",
    ]
    list_select_related = ["rack__site", "bmc"]
    readonly_fields = ["state", "hardware", "last_seen", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "hostname",
                    "state",
                    "arch",
                    "uefi",
                    "serial_number",
                    "description",
                    "tags",
                ]
            },
        ),
        ("Placement", {"fields": ["rack", "position", "u_height", "face", "full_depth"]}),
        (
            "Netboot",
            {"fields": ["allow_pxe", "allow_workflow", "ipxe_url", "ipxe_script", "kernel_params"]},
        ),
        (
            "Instance metadata",
            {"classes": ["collapse"], "fields": ["metadata", "user_data", "vendor_data"]},
        ),
        (
            "Reported",
            {
                "classes": ["collapse"],
                "fields": ["hardware", "last_seen", "created_at", "updated_at"],
            },
        ),
    ]
    inlines = [NetworkInterfaceInline, DiskInline, BMCInline]
    actions = ["mark_ready", "retire"]
    secret_fields = MACHINE_SECRET_FIELDS
    # A scheme-less iPXE URL means http: many iPXE builds have no HTTPS.
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Machine]:
        return super().get_queryset(request).prefetch_related("interfaces")

    @admin.display(description="Site", ordering="rack__site__name")
    def site(self, machine: Machine) -> str:
        return machine.rack.site.name if machine.rack else "-"

    @admin.display(description="Units", ordering="position")
    def placement(self, machine: Machine) -> str:
        if machine.position is None:
            return "-"
        if machine.u_height == 1:
            return f"U{machine.position}"
        return f"U{machine.position}-U{machine.top_unit}"

    def _boot_interface(self, machine: Machine) -> NetworkInterface | None:
        # From the prefetched interfaces: no query per row.
        return next((nic for nic in machine.interfaces.all() if nic.is_boot), None)

    @admin.display(description="Boot MAC")
    def boot_mac(self, machine: Machine) -> str:
        nic = self._boot_interface(machine)
        return nic.mac if nic else "-"

    @admin.display(description="Boot IP")
    def boot_ip(self, machine: Machine) -> str:
        nic = self._boot_interface(machine)
        return str(nic.ip) if nic and nic.ip else "-"

    @admin.display(description="Power")
    def power_state(self, machine: Machine) -> str:
        bmc = getattr(machine, "bmc", None)
        return bmc.get_power_state_display() if bmc else "no BMC"

    @admin.action(
        description="Mark selected machines ready (from discovered, failed, …)",
        permissions=["change"],
    )
    def mark_ready(self, request: HttpRequest, queryset: QuerySet[Machine]) -> None:
        self._transition(request, queryset, MachineState.READY)

    @admin.action(description="Retire selected machines", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[Machine]) -> None:
        self._transition(request, queryset, MachineState.RETIRED)

    def _transition(self, request: HttpRequest, queryset: QuerySet[Machine], target: str) -> None:
        actor = Actor.for_user(request.user)
        moved: list[str] = []
        for machine in queryset.order_by("hostname"):
            try:
                services.machine_transition(
                    machine=machine, actor=actor, target=target, reason="admin action"
                )
            except TransitionError as exc:
                self.message_user(request, f"{machine.hostname}: {exc}", messages.WARNING)
            else:
                moved.append(machine.hostname)
        if moved:
            self.message_user(
                request, f"{len(moved)} machine(s) moved to {target}.", messages.SUCCESS
            )


@admin.register(NetworkInterface)
class NetworkInterfaceAdmin(ServiceModelAdmin):
    create_service = services.interface_create
    update_service = services.interface_update
    delete_service = services.interface_delete
    instance_kwarg = "interface"
    parent_kwarg = "machine"
    service_fields = services.INTERFACE_FIELDS

    form = NetworkInterfaceForm
    list_display = ["mac", "machine", "name", "ip", "netmask", "gateway", "vlan_id", "is_boot"]
    list_filter = ["is_boot", "dhcp_enabled", "machine__rack__site"]
    search_fields = ["mac", "ip", "hostname", "machine__hostname"]
    list_select_related = ["machine"]
    autocomplete_fields = ["machine"]


@admin.register(Disk)
class DiskAdmin(ServiceModelAdmin):
    create_service = services.disk_create
    update_service = services.disk_update
    delete_service = services.disk_delete
    instance_kwarg = "disk"
    parent_kwarg = "machine"
    service_fields = services.DISK_FIELDS

    list_display = ["device", "machine", "size", "model", "serial"]
    list_filter = ["machine__rack__site"]
    search_fields = ["device", "machine__hostname", "serial", "model"]
    list_select_related = ["machine"]
    autocomplete_fields = ["machine"]

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, disk: Disk) -> str:
        return filesizeformat(disk.size_bytes) if disk.size_bytes else "-"


@admin.register(BMC)
class BMCAdmin(BMCDisplay, ServiceModelAdmin):
    create_service = services.bmc_create
    update_service = services.bmc_update
    delete_service = services.bmc_delete
    instance_kwarg = "bmc"
    parent_kwarg = "machine"
    service_fields = services.BMC_FIELDS

    form = BMCForm
    fields = [
        "machine",
        "protocol",
        "address",
        "port",
        "username",
        "new_password",
        "has_password",
        "verify_tls",
        "redfish_system_id",
        "power_state",
        "power_state_at",
    ]
    list_display = [
        "machine",
        "protocol",
        "address",
        "effective_port",
        "username",
        "has_password",
        "power_state",
        "power_state_at",
    ]
    list_filter = ["protocol", "power_state", "verify_tls"]
    search_fields = ["address", "machine__hostname", "username"]
    list_select_related = ["machine"]
    readonly_fields = ["has_password", "power_state", "power_state_at"]
    autocomplete_fields = ["machine"]

    @admin.display(description="Port")
    def effective_port(self, bmc: BMC) -> int:
        return bmc.effective_port


# Power control registers its own models (inventory/power/admin.py).
import inventory.power.admin  # noqa: E402, F401
