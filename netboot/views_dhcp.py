"""The DHCP configuration as a download: dnsmasq or Kea, as ``manage.py export_dhcp`` writes it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from inventory.models import Site
from netboot.dhcp import RENDERERS, dhcp_interfaces, dhcp_plan, parse_pool
from rackpilot.core.access import requires
from rackpilot.core.forms import InvalidMarkingForm
from rackpilot.core.pages import form_status

FILENAMES = {"dnsmasq": "rackpilot-dhcp.conf", "kea": "kea-dhcp4.json"}
SMALL = {"class": "form-control form-control-sm"}


class DhcpExportForm(InvalidMarkingForm):
    format = forms.ChoiceField(
        choices=[("dnsmasq", "dnsmasq"), ("kea", "Kea (Dhcp4 JSON)")],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    site = forms.ModelChoiceField(
        queryset=Site.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        empty_label="Every site",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    tftp_server = forms.GenericIPAddressField(
        protocol="IPv4",
        required=False,
        label="TFTP server (next-server)",
        widget=forms.TextInput(attrs=SMALL),
    )
    discovery_pools = forms.CharField(
        required=False,
        label="Discovery pools, one FIRST-LAST per line",
        widget=forms.Textarea(
            attrs={**SMALL, "rows": 2, "class": SMALL["class"] + " font-monospace"}
        ),
    )

    def clean_discovery_pools(self) -> list[Any]:
        pools = []
        for number, line in enumerate(self.cleaned_data["discovery_pools"].splitlines(), 1):
            if line.strip():
                try:
                    pools.append(parse_pool(line.strip()))
                except ValueError as exc:
                    raise ValidationError(f"line {number}: {exc}") from exc
        return pools


@requires("inventory.view_machine")
def dhcp_export(request: HttpRequest) -> HttpResponse:
    form = DhcpExportForm(request.GET or None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            plan = dhcp_plan(
                dhcp_interfaces(site=data["site"]),
                public_url=settings.RACKPILOT_PUBLIC_URL,
                tftp_server=data["tftp_server"] or None,
                pools=data["discovery_pools"],
            )
        except ValueError as exc:
            form.add_error("discovery_pools", str(exc))
        else:
            response = HttpResponse(
                RENDERERS[data["format"]](plan), content_type="text/plain; charset=utf-8"
            )
            filename = FILENAMES[data["format"]]
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            response["X-Rackpilot-Skipped"] = str(len(plan.skipped))
            return response
    form.mark_invalid()
    return render(request, "netboot/dhcp_export.html", {"form": form}, status=form_status(form))
