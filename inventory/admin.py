from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from inventory import services
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from inventory.services import BMC_FIELDS, DISK_FIELDS, INTERFACE_FIELDS
from inventory.states import MachineState
from rackpilot.core.actors import Actor


class ServiceAdminMixin:
    """Admin saves and deletes go through the app's services (events, validation, locks)."""

    def _actor(self, request: HttpRequest) -> Actor:
        return Actor.for_user(request.user)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "color", "description"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "facility_code", "address"]
    search_fields = ["name", "slug", "facility_code", "address"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Rack)
class RackAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "u_height"]
    list_filter = ["site"]
    search_fields = ["name", "site__name"]
    list_select_related = ["site"]


class NetworkInterfaceInline(admin.TabularInline):
    model = NetworkInterface
    extra = 0
    fields = ["name", "mac", "ip", "netmask", "gateway", "vlan_id", "is_boot", "dhcp_enabled"]


class DiskInline(admin.TabularInline):
    model = Disk
    extra = 0
    fields = ["device", "size_bytes", "model", "serial"]


class BMCForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password (stored encrypted, never shown).",
    )

    class Meta:
        model = BMC
        fields = ["protocol", "address", "port", "username", "verify_tls", "redfish_system_id"]


class BMCInline(admin.StackedInline):
    model = BMC
    form = BMCForm
    extra = 0
    max_num = 1
    readonly_fields = ["has_password", "power_state", "power_state_at"]


@admin.register(Machine)
class MachineAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = [
        "hostname",
        "state",
        "rack",
        "position",
        "arch",
        "allow_pxe",
        "allow_workflow",
        "boot_mac",
        "last_seen",
    ]
    list_filter = ["state", "arch", "allow_pxe", "allow_workflow", "rack__site", "tags"]
    search_fields = ["hostname", "serial_number", "interfaces__mac", "interfaces__ip"]
    list_select_related = ["rack"]
    readonly_fields = ["state", "hardware", "last_seen", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    inlines = [NetworkInterfaceInline, DiskInline, BMCInline]
    actions = ["mark_ready", "retire"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Machine]:
        return super().get_queryset(request).prefetch_related("interfaces")

    @admin.display(description="Boot MAC")
    def boot_mac(self, machine: Machine) -> str:
        for nic in machine.interfaces.all():
            if nic.is_boot:
                return nic.mac
        return "-"

    def save_model(self, request: HttpRequest, obj: Machine, form: Any, change: bool) -> None:
        values = {k: v for k, v in form.cleaned_data.items() if k in services.MACHINE_FIELDS}
        actor = self._actor(request)
        try:
            if change:
                saved = services.machine_update(machine=obj, actor=actor, **values)
            else:
                saved = services.machine_create(actor=actor, **values)
        except ValidationError as exc:
            # The form already validated; a race lost here is reported, not half-saved.
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            raise
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        actor = self._actor(request)
        machine = form.instance
        services.machine_update(machine=machine, actor=actor, tags=form.cleaned_data["tags"])
        for formset in formsets:
            for inline_form in formset.forms:
                if not inline_form.has_changed() and not inline_form.instance.pk:
                    continue
                self._save_inline(inline_form, formset, machine, actor)

    def _save_inline(self, inline_form: Any, formset: Any, machine: Machine, actor: Actor) -> None:
        instance = inline_form.instance
        data = inline_form.cleaned_data
        if not data:
            return
        if data.get("DELETE") and instance.pk:
            delete = {
                NetworkInterface: lambda: services.interface_delete(
                    interface=instance, actor=actor
                ),
                Disk: lambda: services.disk_delete(disk=instance, actor=actor),
                BMC: lambda: services.bmc_delete(bmc=instance, actor=actor),
            }[type(instance)]
            delete()
            return
        if isinstance(instance, NetworkInterface):
            values = {k: v for k, v in data.items() if k in INTERFACE_FIELDS}
            if instance.pk:
                services.interface_update(interface=instance, actor=actor, **values)
            else:
                services.interface_create(machine=machine, actor=actor, **values)
        elif isinstance(instance, Disk):
            values = {k: v for k, v in data.items() if k in DISK_FIELDS}
            if instance.pk:
                services.disk_update(disk=instance, actor=actor, **values)
            else:
                services.disk_create(machine=machine, actor=actor, **values)
        elif isinstance(instance, BMC):
            values = {k: v for k, v in data.items() if k in BMC_FIELDS}
            password = data.get("new_password") or None
            if instance.pk:
                services.bmc_update(bmc=instance, actor=actor, password=password, **values)
            else:
                services.bmc_create(machine=machine, actor=actor, password=password, **values)

    def delete_model(self, request: HttpRequest, obj: Machine) -> None:
        services.machine_delete(machine=obj, actor=self._actor(request))

    @admin.action(description="Mark selected failed/discovered machines ready")
    def mark_ready(self, request: HttpRequest, queryset: QuerySet[Machine]) -> None:
        self._transition(request, queryset, MachineState.READY)

    @admin.action(description="Retire selected machines")
    def retire(self, request: HttpRequest, queryset: QuerySet[Machine]) -> None:
        self._transition(request, queryset, MachineState.RETIRED)

    def _transition(self, request: HttpRequest, queryset: QuerySet[Machine], target: str) -> None:
        from rackpilot.core.statemachine import TransitionError

        done, refused = 0, []
        for machine in queryset:
            try:
                services.machine_transition(
                    machine=machine, actor=self._actor(request), target=target
                )
                done += 1
            except TransitionError as exc:
                refused.append(f"{machine.hostname}: {exc}")
        self.message_user(request, f"{done} machine(s) moved to {target}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(NetworkInterface)
class NetworkInterfaceAdmin(admin.ModelAdmin):
    list_display = ["mac", "machine", "name", "ip", "vlan_id", "is_boot"]
    list_filter = ["is_boot", "dhcp_enabled"]
    search_fields = ["mac", "ip", "machine__hostname", "hostname"]
    list_select_related = ["machine"]


@admin.register(Disk)
class DiskAdmin(admin.ModelAdmin):
    list_display = ["device", "machine", "size_bytes", "model", "serial"]
    search_fields = ["device", "machine__hostname", "serial", "model"]
    list_select_related = ["machine"]


@admin.register(BMC)
class BMCAdmin(admin.ModelAdmin):
    form = BMCForm
    list_display = ["machine", "protocol", "address", "port", "username", "power_state"]
    list_filter = ["protocol", "power_state", "verify_tls"]
    search_fields = ["address", "machine__hostname", "username"]
    list_select_related = ["machine"]
    readonly_fields = ["has_password", "power_state", "power_state_at"]
