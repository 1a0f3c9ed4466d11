"""One filter definition per model, used by both the dashboard list pages and the API."""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from inventory.fields import MACAddressField, normalize_mac
from inventory.models import BMC, Disk, Machine, NetworkInterface, PowerJob, Rack, Site, Tag
from inventory.states import MachineState, PowerJobState
from rackpilot.core.filters import MAX_ID, DateTimeFilter, IdFilter, IPAddressFilter
from rackpilot.core.filters import SearchFilterSet as CoreSearchFilterSet


class MACField(forms.CharField):
    def to_python(self, value: object) -> str:
        text = super().to_python(value) or ""
        return normalize_mac(text) if text else text


class MACFilter(filters.CharFilter):
    """A MAC address in any usual spelling, matched in its stored form; anything else is a
    400 naming the parameter."""

    field_class = MACField


class IdListWidget(forms.TextInput):
    """Reads every value of the key, each possibly comma-separated: ``id=3&id=7`` and
    ``id=3,7`` both name rows 3 and 7 (a plain widget would keep only the last value)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str] | None:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return None
        if not isinstance(values, list | tuple):
            values = [values]
        parts = [part.strip() for value in values for part in str(value).split(",")]
        return parts if any(parts) else None


class IdListField(forms.Field):
    widget = IdListWidget

    def to_python(self, value: object) -> list[int]:
        if not value:
            return []
        ids = []
        for part in value if isinstance(value, list | tuple) else [value]:
            text = str(part)
            if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
                raise forms.ValidationError(
                    "Give ids as whole numbers, as in id=3&id=7 or id=3,7.", code="invalid"
                )
            ids.append(int(text))
        return ids


class IdListFilter(filters.Filter):
    """Rows by primary key, any number of them (the machine list's ticked rows)."""

    field_class = IdListField

    def filter(self, qs: QuerySet, value: list[int]) -> QuerySet:
        return qs.filter(pk__in=value) if value else qs


class SearchFilterSet(CoreSearchFilterSet):
    """The shared search filterset, with MAC address fields checked as MACs."""

    FILTER_DEFAULTS = {
        **CoreSearchFilterSet.FILTER_DEFAULTS,
        MACAddressField: {"filter_class": MACFilter},
    }


class TagFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "description")

    class Meta:
        model = Tag
        fields = ["name", "slug"]


class SiteFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "facility_code", "address", "description")

    class Meta:
        model = Site
        fields = ["name", "slug", "facility_code"]


class RackFilterSet(SearchFilterSet):
    search_fields = ("name", "description", "site__name")
    site = filters.CharFilter(field_name="site__slug", label="Site (slug)")
    site_id = IdFilter(field_name="site_id")

    class Meta:
        model = Rack
        fields = ["name", "site", "site_id"]


class MachineFilterSet(SearchFilterSet):
    search_fields = ("hostname", "serial_number", "description")
    id = IdListFilter(label="IDs (id=3&id=7 or id=3,7)")
    site = filters.CharFilter(field_name="rack__site__slug", label="Site (slug)")
    site_id = IdFilter(field_name="rack__site_id")
    rack = filters.CharFilter(field_name="rack__name", label="Rack (name)")
    rack_id = IdFilter(field_name="rack_id")
    state = filters.MultipleChoiceFilter(choices=MachineState.choices)
    arch = filters.ChoiceFilter(choices=Machine.Arch.choices)
    tag = filters.CharFilter(method="filter_tag", label="Tag (slug)")
    mac = MACFilter(method="filter_mac", label="MAC address")
    ip = IPAddressFilter(field_name="interfaces__ip", label="IP address", distinct=True)
    has_bmc = filters.BooleanFilter(field_name="bmc", lookup_expr="isnull", exclude=True)
    power_state = filters.MultipleChoiceFilter(
        field_name="bmc__power_state", choices=BMC.PowerState.choices, label="Power state"
    )
    unracked = filters.BooleanFilter(field_name="rack", lookup_expr="isnull", label="Not in a rack")

    class Meta:
        model = Machine
        fields = ["hostname", "uefi", "allow_pxe", "allow_workflow"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        nic = NetworkInterface.objects.filter(machine=OuterRef("pk")).filter(
            Q(mac__icontains=value.lower()) | Q(ip__startswith=value) | Q(hostname__icontains=value)
        )
        return queryset.filter(
            Q(hostname__icontains=value)
            | Q(serial_number__icontains=value)
            | Q(description__icontains=value)
            | Q(rack__name__icontains=value)
            | Exists(nic)
        )

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tagged = Machine.tags.through.objects.filter(
            machine_id=OuterRef("pk"), tag__slug__in=[v for v in value.split(",") if v]
        )
        return queryset.filter(Exists(tagged))

    def filter_mac(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Exists(NetworkInterface.objects.filter(machine=OuterRef("pk"), mac=value))
        )


class NetworkInterfaceFilterSet(SearchFilterSet):
    search_fields = ("name", "mac", "hostname", "machine__hostname")
    machine = filters.CharFilter(field_name="machine__hostname", label="Machine (hostname)")
    machine_id = IdFilter(field_name="machine_id")

    class Meta:
        model = NetworkInterface
        fields = ["mac", "ip", "is_boot", "vlan_id", "machine", "machine_id"]


class DiskFilterSet(SearchFilterSet):
    search_fields = ("device", "model", "serial", "machine__hostname")
    machine = filters.CharFilter(field_name="machine__hostname", label="Machine (hostname)")
    machine_id = IdFilter(field_name="machine_id")

    class Meta:
        model = Disk
        fields = ["device", "machine", "machine_id"]


class BMCFilterSet(SearchFilterSet):
    search_fields = ("address", "username", "machine__hostname")
    machine = filters.CharFilter(field_name="machine__hostname", label="Machine (hostname)")
    machine_id = IdFilter(field_name="machine_id")

    class Meta:
        model = BMC
        fields = ["protocol", "power_state", "machine", "machine_id"]


class PowerJobFilterSet(SearchFilterSet):
    search_fields = ("machine__hostname", "requested_by", "error", "reason")
    machine = filters.CharFilter(field_name="machine__hostname", label="Machine (hostname)")
    machine_id = IdFilter(field_name="machine_id")
    state = filters.MultipleChoiceFilter(choices=PowerJobState.choices)
    action = filters.MultipleChoiceFilter(choices=PowerJob.Action.choices)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = PowerJob
        fields = ["state", "action", "machine", "machine_id"]
