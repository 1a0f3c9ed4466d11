"""Starting workflows from the dashboard: one machine's start form, and the bulk start from a
filtered machine list."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import Machine
from tests.factories import MachineFactory, NetworkInterfaceFactory, RackFactory, SiteFactory
from tests.workflows.factories import (
    TemplateFactory,
    provisionable_machine,
    start,
)
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


# --- starting workflows ----------------------------------------------------------------------


def test_start_form_defaults_the_hardware_map_to_the_boot_mac(operator_client: Client):
    machine = provisionable_machine()
    mac = machine.interfaces.get().mac
    response = operator_client.get(reverse("workflows-ui:workflow-start", args=[machine.pk]))
    assert f"device_1={mac}" in response.content.decode()
    # and the machine's page leads here
    detail = operator_client.get(reverse("dashboard:machine-detail", args=[machine.pk]))
    assert reverse("workflows-ui:workflow-start", args=[machine.pk]) in detail.content.decode()


def test_start_form_creates_the_workflow(operator_client: Client, operator):
    # given a ready machine and a template
    machine = provisionable_machine()
    template = TemplateFactory()
    mac = machine.interfaces.get().mac
    # when the operator starts it with an explicit map and PXE off after success
    response = operator_client.post(
        reverse("workflows-ui:workflow-start", args=[machine.pk]),
        {
            "template": template.pk,
            "hardware_map": f"# the boot NIC\r\ndevice_1 = {mac}\r\n\r\nrole=web",
            "disable_pxe_on_success": "on",
        },
    )
    # then the workflow exists, rendered for this machine, and its page opens
    workflow = Workflow.objects.get(machine=machine)
    assert response["Location"] == reverse("workflows-ui:workflow-detail", args=[workflow.pk])
    assert workflow.hardware_map == {"device_1": mac, "role": "web"}
    assert workflow.disable_pxe_on_success is True
    assert workflow.created_by == operator
    action = workflow.tasks.get().actions.get(name="kexec")
    assert action.environment["BLOCK_DEVICE"] == "/dev/sda1"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("workflows_off", "allow_workflow is off"),
        ("busy", "already has an unfinished workflow"),
        ("provisioned", "a workflow starts on a ready or failed machine"),
    ],
)
def test_start_form_shows_refusals(operator_client: Client, setup: str, expected: str):
    machine = provisionable_machine()
    template = TemplateFactory()
    if setup == "workflows_off":
        Machine.objects.filter(pk=machine.pk).update(allow_workflow=False)
    elif setup == "busy":
        start(template, machine)
    else:
        Machine.objects.filter(pk=machine.pk).update(state="provisioned")
    before = Workflow.objects.count()
    response = operator_client.post(
        reverse("workflows-ui:workflow-start", args=[machine.pk]), {"template": template.pk}
    )
    assert response.status_code == 400
    assert 'id="start-refused"' in response.content.decode()
    assert expected in response.content.decode()
    assert Workflow.objects.count() == before


def test_start_form_shows_render_errors_at_their_template_line(operator_client: Client):
    # given a machine without disks: `index .Hardware.Disks 0` cannot render
    machine = MachineFactory()
    NetworkInterfaceFactory(machine=machine)  # a boot NIC, but no disk
    template = TemplateFactory()
    response = operator_client.post(
        reverse("workflows-ui:workflow-start", args=[machine.pk]), {"template": template.pk}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "template line 14, column" in html
    assert re.findall(r'<span class="rp-line rp-line-error" id="T(\d+)"', html) == ["14"]
    assert not Workflow.objects.filter(machine=machine).exists()


def test_start_form_refuses_a_malformed_hardware_map(operator_client: Client):
    machine = provisionable_machine()
    response = operator_client.post(
        reverse("workflows-ui:workflow-start", args=[machine.pk]),
        {"template": TemplateFactory().pk, "hardware_map": "device_1\nbad key=1"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Line 1: expected key=value" in html
    assert "Line 2: “bad key” is not a valid key" in html
    assert not Workflow.objects.exists()


# --- bulk start ------------------------------------------------------------------------------


def _rack_of_three() -> tuple[str, list[Machine]]:
    site = SiteFactory(slug="ams1")
    rack = RackFactory(site=site)
    machines = [
        provisionable_machine(hostname=f"web-{n:02d}", rack=rack, position=n) for n in (1, 2, 3)
    ]
    # one of them refuses workflows
    Machine.objects.filter(pk=machines[1].pk).update(allow_workflow=False)
    return "site=ams1", machines


def _confirmed(client: Client, url: str) -> str:
    """The selection digest the bulk page shows, as its form sends it back."""
    found = re.search(r'name="selection" value="([0-9a-f]+)"', client.get(url).content.decode())
    assert found is not None
    return found.group(1)


def test_bulk_page_lists_the_filtered_machines(operator_client: Client):
    query, _ = _rack_of_three()
    MachineFactory(hostname="elsewhere")
    response = operator_client.get(reverse("workflows-ui:workflow-bulk") + "?" + query)
    html = response.content.decode()
    assert re.findall(r'<tr data-hostname="([^"]+)"', html) == ["web-01", "web-02", "web-03"]
    assert "Start a workflow on 3 machines" in html
    assert "workflows not allowed" in html


def test_bulk_start_with_a_refusal_creates_nothing_and_says_why(operator_client: Client):
    query, _ = _rack_of_three()
    template = TemplateFactory()
    url = reverse("workflows-ui:workflow-bulk") + "?" + query
    response = operator_client.post(
        url, {"template": template.pk, "selection": _confirmed(operator_client, url)}
    )
    html = response.content.decode()
    assert not Workflow.objects.exists()
    assert "Nothing was started: 1 machine refused." in html
    refused = re.search(r'<tr data-hostname="web-02">.*?</tr>', html, re.DOTALL)
    assert refused is not None
    assert "allow_workflow is off" in refused.group(0)


def test_bulk_start_skipping_refusals_creates_the_others(operator_client: Client):
    query, _ = _rack_of_three()
    template = TemplateFactory()
    url = reverse("workflows-ui:workflow-bulk") + "?" + query
    response = operator_client.post(
        url,
        {
            "template": template.pk,
            "skip_refused": "on",
            "selection": _confirmed(operator_client, url),
        },
    )
    created = Workflow.objects.order_by("machine__hostname")
    assert [w.machine.hostname for w in created] == ["web-01", "web-03"]
    html = response.content.decode()
    assert "2 workflows created; 1 machine skipped." in html
    for workflow in created:
        assert reverse("workflows-ui:workflow-detail", args=[workflow.pk]) in html
    assert 'data-hostname="web-02"' in html


def test_bulk_start_without_a_filter_is_refused(operator_client: Client):
    # given machines, and a bulk start with no filter (or only empty and paging parameters)
    _rack_of_three()
    template = TemplateFactory()
    url = reverse("workflows-ui:workflow-bulk")
    for query in ("", "?q=&site=&ordering=hostname&page=2"):
        response = operator_client.get(url + query)
        assert response.status_code == 400
        assert "An empty filter selects nothing" in response.content.decode()
        response = operator_client.post(url + query, {"template": template.pk})
        assert response.status_code == 400
    assert not Workflow.objects.exists()


def test_bulk_start_on_a_selection_that_changed_starts_nothing(operator_client: Client):
    # given the page shown for the machines of ams1, then one more machine joins the rack
    query, machines = _rack_of_three()
    url = reverse("workflows-ui:workflow-bulk") + "?" + query
    confirmed = _confirmed(operator_client, url)
    MachineFactory(hostname="web-late", rack=machines[0].rack, position=30)

    response = operator_client.post(
        url, {"template": TemplateFactory().pk, "skip_refused": "on", "selection": confirmed}
    )

    assert response.status_code == 409
    assert "Nothing was sent" in response.content.decode()
    assert not Workflow.objects.exists()


def test_machine_list_offers_the_bulk_start_with_its_filter(operator_client: Client):
    _rack_of_three()
    html = operator_client.get(reverse("dashboard:machine-list"), {"site": "ams1"}).content
    html = html.decode()
    link = re.search(r'<a class="btn btn-sm btn-primary" id="bulk-start".*?</a>', html, re.DOTALL)
    assert link is not None
    assert f'href="{reverse("workflows-ui:workflow-bulk")}?site=ams1"' in link.group(0)
    assert "<span data-rp-count>3</span>" in link.group(0)
