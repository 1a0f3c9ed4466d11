"""The Django admin writes only through the inventory services: events, validation, locks."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.forms import ModelMultipleChoiceField
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from inventory.admin import DiskInline
from inventory.models import BMC, Disk, Machine, NetworkInterface, PowerJob, Rack, Site, Tag
from netboot.discovery import discovery_rule_create
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.models import Event
from rackpilot.core.tokens import api_token_issue
from tests.builds_app.conftest import builds_admin_rows
from tests.factories import (
    BMCFactory,
    DiskFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    TagFactory,
    UserFactory,
)
from tests.workflows.conftest import TWO_ACTIONS
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.services.engine import workflow_create
from workflows.services.templates import template_create

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def superuser():
    return UserFactory(username="root-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def rack() -> Rack:
    return RackFactory(name="FRA1-A01", u_height=42)


@pytest.fixture
def fleet(rack, superuser) -> dict[str, Any]:
    """A bit of everything, so every changelist and change page has a row to show."""
    tag = TagFactory(name="gpu", slug="gpu")
    big = MachineFactory(hostname="fra1-gpu-01", rack=rack, position=10, u_height=2)
    big.tags.add(tag)
    small = MachineFactory(hostname="fra1-k8s-01", rack=rack, position=20)
    NetworkInterfaceFactory(machine=big, mac="52:54:00:aa:00:01")
    NetworkInterfaceFactory(machine=small, mac="52:54:00:aa:00:02")
    DiskFactory(machine=big, device="/dev/nvme0n1")
    bmc = BMCFactory(machine=big, password="factory-secret")
    record_event(actor=Actor.system("tests"), verb="machine.created", obj=big, machine=big)
    Group.objects.create(name="operators")
    api_token_issue(user=superuser, actor=Actor.system("tests"), description="fra1 scripts")
    # The workflows app's admin pages need a row of each kind too.
    system = Actor.system("tests")
    template = template_create(actor=system, name="fra1-install", body=TWO_ACTIONS)
    workflow_create(template=template, machine=big, actor=system)
    agent_token_issue(machine=big, actor=system)
    builds_admin_rows(system)
    discovery_rule_create(actor=system, name="qemu", template=template, conditions="arch = x86_64")
    PowerJob.objects.create(machine=big, action=PowerJob.Action.CYCLE, requested_by="tests")
    # The login lockout's pages (where an admin sees and lifts a lockout).
    attempt = {"username": "mallory", "ip_address": "127.0.0.1", "user_agent": "tests"}
    AccessAttempt.objects.create(**attempt, failures_since_start=3, get_data="", post_data="")
    AccessFailureLog.objects.create(**attempt, locked_out=True)
    return {"tag": tag, "big": big, "small": small, "bmc": bmc}


def admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _post_value(bound: forms.BoundField) -> Any:
    value = bound.value()
    if isinstance(bound.field.widget, forms.CheckboxInput):
        return "on" if value else None
    if value is None:
        multiple = isinstance(bound.field, forms.MultipleChoiceField | ModelMultipleChoiceField)
        return None if multiple else ""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return value


def form_data(response: Any) -> dict[str, Any]:
    """What the browser would post back for a rendered add/change page, unchanged."""
    data: dict[str, Any] = {}
    forms_on_page = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms_on_page += [formset.management_form, *formset.forms]
    for form in forms_on_page:
        for bound in form:
            value = _post_value(bound)
            if value is not None:
                data[bound.html_name] = value
    return data


def add_inline_row(page: Any, data: dict[str, Any], prefix: str, **fields: Any) -> None:
    """As the "Add another" link does: a copy of the inline's empty row, then typed into."""
    [inline] = [i for i in page.context["inline_admin_formsets"] if i.formset.prefix == prefix]
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    for bound in inline.formset.empty_form:
        value = _post_value(bound)
        if value is not None:
            data[bound.html_name.replace("__prefix__", str(index))] = value
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- every page loads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED]
)
def test_every_admin_page_loads_for_a_superuser(model, model_admin, admin_client, fleet, superuser):
    # Given an inventory with a row of every kind
    request = RequestFactory().get("/")
    request.user = superuser
    obj = model._default_manager.first()
    assert obj is not None, f"no {model._meta.label} row to open"

    # When the changelist (plain and searched), the add page and a change page are opened
    changelist = admin_client.get(admin_url(model, "changelist"))
    searched = admin_client.get(admin_url(model, "changelist"), {"q": "fra1"})
    add = admin_client.get(admin_url(model, "add"))
    change = admin_client.get(admin_url(model, "change", obj.pk))

    # Then each renders (the add page is forbidden where adding is not allowed at all)
    assert changelist.status_code == 200
    assert searched.status_code == 200
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)
    assert change.status_code == 200


def test_the_machine_list_costs_the_same_queries_for_few_and_many_rows(admin_client, rack):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(admin_url(Machine, "changelist")).status_code == 200
        return len(queries)

    for n in range(2):
        machine = MachineFactory(rack=rack, position=1 + n)
        NetworkInterfaceFactory(machine=machine)
        BMCFactory(machine=machine)
    few = queries_for_list()
    for n in range(2, 12):
        machine = MachineFactory(rack=rack, position=1 + n)
        NetworkInterfaceFactory(machine=machine)
        BMCFactory(machine=machine)

    assert queries_for_list() == few


# --- saves go through services -------------------------------------------------------------


def test_adding_a_site_records_an_event_by_the_signed_in_user(admin_client, superuser):
    response = admin_client.post(
        admin_url(Site, "add"),
        {"name": "Frankfurt FRA1", "slug": "fra1", "facility_code": "fra1"},
    )

    assert response.status_code == 302
    site = Site.objects.get(slug="fra1")
    event = Event.objects.get(verb="site.created")
    assert event.object_id == str(site.pk)
    assert (event.actor_kind, event.actor_name) == ("user", superuser.username)


def test_changing_a_rack_records_what_changed(admin_client, rack):
    page = admin_client.get(admin_url(Rack, "change", rack.pk))
    data = form_data(page) | {"u_height": "48"}

    response = admin_client.post(admin_url(Rack, "change", rack.pk), data)

    assert response.status_code == 302
    rack.refresh_from_db()
    assert rack.u_height == 48
    assert Event.objects.get(verb="rack.updated").changes == {"u_height": [42, 48]}


def test_shrinking_a_rack_below_its_machines_shows_the_services_refusal(admin_client, fleet, rack):
    # Given fra1-k8s-01 at U20; rack_update refuses heights that cut it off
    page = admin_client.get(admin_url(Rack, "change", rack.pk))
    data = form_data(page) | {"u_height": "12"}

    response = admin_client.post(admin_url(Rack, "change", rack.pk), data)

    assert response.status_code == 200
    assertContains(response, "Machines would stick out of a 12U rack")
    rack.refresh_from_db()
    assert rack.u_height == 42
    assert not Event.objects.filter(verb="rack.updated").exists()


def test_machine_at_an_overlapping_position_shows_the_placement_error_and_writes_nothing(
    admin_client, fleet, rack
):
    # Given fra1-gpu-01 occupying U10-U11
    page = admin_client.get(admin_url(Machine, "add"))
    data = form_data(page) | {"hostname": "fra1-k8s-02", "rack": str(rack.pk), "position": "11"}
    machines, events = Machine.objects.count(), Event.objects.count()

    # When a new machine is saved at U11
    response = admin_client.post(admin_url(Machine, "add"), data)

    # Then the form comes back with the placement message, and nothing was written
    assert response.status_code == 200
    assertContains(response, "U11-U11 of rack FRA1-A01 overlaps fra1-gpu-01 (U10-U11).")
    assert Machine.objects.count() == machines
    assert Event.objects.count() == events


def test_a_refused_placement_also_discards_the_inline_changes_of_the_same_save(
    admin_client, fleet, rack
):
    small = fleet["small"]
    page = admin_client.get(admin_url(Machine, "change", small.pk))
    data = form_data(page) | {"position": "10"}
    add_inline_row(page, data, "disks", device="/dev/sdb", size_bytes="960000000000")

    response = admin_client.post(admin_url(Machine, "change", small.pk), data)

    assert response.status_code == 200
    assertContains(response, "overlaps fra1-gpu-01")
    small.refresh_from_db()
    assert small.position == 20
    assert not small.disks.exists()
    assert not Event.objects.filter(machine=small).exists()


def test_a_refusal_of_an_inline_row_shows_on_that_row(admin_client, fleet, monkeypatch):
    # Given a disk service that refuses the serial number
    def refuse(**kwargs: Any) -> Disk:
        raise ValidationError({"serial": "Serial S4RMA0001 is on the RMA list."})

    monkeypatch.setattr(DiskInline, "create_service", refuse)
    small = fleet["small"]
    page = admin_client.get(admin_url(Machine, "change", small.pk))
    data = form_data(page) | {"description": "gets a new disk"}
    add_inline_row(page, data, "disks", device="/dev/sdb", serial="S4RMA0001")

    # When the machine is saved with the new disk row
    response = admin_client.post(admin_url(Machine, "change", small.pk), data)

    # Then the row shows the refusal and the machine's own change is not kept either
    assert response.status_code == 200
    disk_form = next(
        inline.formset.forms[0]
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == "disks"
    )
    assert disk_form.errors["serial"] == ["Serial S4RMA0001 is on the RMA list."]
    small.refresh_from_db()
    assert small.description == ""


def test_adding_a_machine_with_its_parts_records_an_event_for_each(admin_client, rack, superuser):
    page = admin_client.get(admin_url(Machine, "add"))
    data = form_data(page) | {"hostname": "ams2-arm-01", "rack": str(rack.pk), "position": "30"}
    add_inline_row(page, data, "interfaces", name="eth0", mac="52-54-00-AB-CD-EF", ip="10.20.1.11")
    add_inline_row(page, data, "disks", device="/dev/nvme0n1", size_bytes="960000000000")
    add_inline_row(
        page,
        data,
        "bmc",
        protocol="ipmi",
        address="10.20.101.11",
        username="admin",
        new_password="ipmi-pass-1",
    )

    response = admin_client.post(admin_url(Machine, "add"), data)

    assert response.status_code == 302
    machine = Machine.objects.get(hostname="ams2-arm-01")
    assert machine.state == Machine.State.READY
    assert machine.interfaces.get().mac == "52:54:00:ab:cd:ef"
    assert machine.interfaces.get().is_boot
    assert machine.bmc.get_password() == "ipmi-pass-1"
    verbs = set(Event.objects.filter(machine=machine).values_list("verb", flat=True))
    assert verbs == {"machine.created", "interface.created", "disk.created", "bmc.created"}
    assert set(Event.objects.values_list("actor_name", flat=True)) == {superuser.username}


def test_a_duplicate_mac_shows_on_the_page_and_writes_nothing(admin_client, fleet):
    page = admin_client.get(admin_url(NetworkInterface, "add"))
    data = form_data(page) | {"machine": str(fleet["small"].pk), "mac": "52-54-00-AA-00-01"}

    response = admin_client.post(admin_url(NetworkInterface, "add"), data)

    assert response.status_code == 200
    assertContains(response, "This MAC address is already used by another interface.")
    assert NetworkInterface.objects.count() == 2
    assert not Event.objects.filter(verb="interface.created").exists()


def test_a_new_boot_interface_takes_the_boot_flag_from_the_old_one(admin_client, fleet):
    small = fleet["small"]
    old_boot = small.interfaces.get()
    page = admin_client.get(admin_url(NetworkInterface, "add"))
    data = form_data(page) | {
        "machine": str(small.pk),
        "name": "eth1",
        "mac": "52:54:00:aa:00:03",
        "is_boot": "on",
    }

    response = admin_client.post(admin_url(NetworkInterface, "add"), data)

    assert response.status_code == 302
    boot = small.interfaces.get(is_boot=True)
    assert boot.mac == "52:54:00:aa:00:03"
    assert boot.pk != old_boot.pk
    assert Event.objects.filter(verb="interface.created", machine=small).exists()


def test_machine_state_cannot_be_posted_through_the_form(admin_client, fleet):
    small = fleet["small"]
    page = admin_client.get(admin_url(Machine, "change", small.pk))
    data = form_data(page) | {"state": "retired", "kernel_params": "console=ttyS1"}

    response = admin_client.post(admin_url(Machine, "change", small.pk), data)

    assert response.status_code == 302
    small.refresh_from_db()
    assert (small.state, small.kernel_params) == ("ready", "console=ttyS1")


# --- BMC passwords -------------------------------------------------------------------------


def test_a_bmc_password_set_in_the_admin_is_stored_encrypted_and_never_shown(admin_client, fleet):
    bmc = fleet["bmc"]
    page = admin_client.get(admin_url(BMC, "change", bmc.pk))
    data = form_data(page) | {"new_password": "Tr0ub4dor&3-bmc"}

    response = admin_client.post(admin_url(BMC, "change", bmc.pk), data)

    assert response.status_code == 302
    bmc.refresh_from_db()
    assert bmc.get_password() == "Tr0ub4dor&3-bmc"
    assert "Tr0ub4dor" not in bmc.password_encrypted
    assert Event.objects.filter(verb="bmc.password_changed", object_id=str(bmc.pk)).exists()
    assert "Tr0ub4dor" not in str(list(Event.objects.values_list("changes", "message")))
    for url in (admin_url(BMC, "change", bmc.pk), admin_url(Machine, "change", bmc.machine_id)):
        html = admin_client.get(url).content.decode()
        assert "Tr0ub4dor" not in html
        assert bmc.password_encrypted not in html
        assert 'name="new_password"' in html or 'name="bmc-0-new_password"' in html


def test_an_empty_new_password_keeps_the_stored_one(admin_client, fleet):
    bmc = fleet["bmc"]
    page = admin_client.get(admin_url(BMC, "change", bmc.pk))
    data = form_data(page) | {"username": "ADMIN"}

    response = admin_client.post(admin_url(BMC, "change", bmc.pk), data)

    assert response.status_code == 302
    bmc.refresh_from_db()
    assert (bmc.username, bmc.get_password()) == ("ADMIN", "factory-secret")
    assert not Event.objects.filter(verb="bmc.password_changed").exists()


def test_a_rejected_bmc_form_does_not_echo_the_typed_password(admin_client, fleet):
    bmc = fleet["bmc"]
    page = admin_client.get(admin_url(BMC, "change", bmc.pk))
    data = form_data(page) | {"new_password": "typed-but-rejected", "port": "70000"}

    response = admin_client.post(admin_url(BMC, "change", bmc.pk), data)

    assert response.status_code == 200
    assertNotContains(response, "typed-but-rejected")
    bmc.refresh_from_db()
    assert bmc.get_password() == "factory-secret"


# --- deletes -------------------------------------------------------------------------------


def test_bulk_delete_goes_through_the_services(admin_client):
    tags = [TagFactory(name="gpu"), TagFactory(name="storage")]

    response = admin_client.post(
        admin_url(Tag, "changelist"),
        {"action": "delete_selected", "_selected_action": [t.pk for t in tags], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert not Tag.objects.exists()
    deleted = Event.objects.filter(verb="tag.deleted")
    assert sorted(deleted.values_list("object_repr", flat=True)) == ["gpu", "storage"]
    assert "Successfully deleted 2 tags." in page_messages(response)


def test_bulk_delete_refused_for_one_machine_deletes_none(admin_client):
    idle = MachineFactory(hostname="idle-01")
    busy = MachineFactory(hostname="busy-01", state=Machine.State.PROVISIONING)

    response = admin_client.post(
        admin_url(Machine, "changelist"),
        {"action": "delete_selected", "_selected_action": [idle.pk, busy.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert Machine.objects.count() == 2
    assert not Event.objects.filter(verb="machine.deleted").exists()
    [message] = page_messages(response)
    assert message.startswith("Nothing was deleted. busy-01: Machine busy-01 is provisioning")


def test_deleting_one_machine_records_an_event(admin_client, fleet):
    small = fleet["small"]

    response = admin_client.post(admin_url(Machine, "delete", small.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Machine.objects.filter(pk=small.pk).exists()
    assert Event.objects.filter(verb="machine.deleted", object_repr="fra1-k8s-01").exists()


def test_deleting_a_busy_machine_is_refused_with_a_message(admin_client):
    busy = MachineFactory(hostname="busy-01", state=Machine.State.DEPROVISIONING)

    response = admin_client.post(
        admin_url(Machine, "delete", busy.pk), {"post": "yes"}, follow=True
    )

    assert response.redirect_chain[-1][0] == admin_url(Machine, "change", busy.pk)
    assert Machine.objects.filter(pk=busy.pk).exists()
    assert page_messages(response) == [
        "Not deleted. busy-01: Machine busy-01 is deprovisioning; wait or retire it first."
    ]


def test_deleting_an_inline_row_goes_through_the_services(admin_client, fleet):
    big = fleet["big"]
    page = admin_client.get(admin_url(Machine, "change", big.pk))
    data = form_data(page) | {"disks-0-DELETE": "on"}

    response = admin_client.post(admin_url(Machine, "change", big.pk), data)

    assert response.status_code == 302
    assert not big.disks.exists()
    assert Event.objects.filter(verb="disk.deleted", machine=big).exists()


# --- lifecycle actions ---------------------------------------------------------------------


def test_mark_ready_moves_allowed_machines_and_reports_refusals(admin_client):
    failed = MachineFactory(hostname="failed-01", state=Machine.State.FAILED)
    retired = MachineFactory(hostname="retired-01", state=Machine.State.RETIRED)

    response = admin_client.post(
        admin_url(Machine, "changelist"),
        {"action": "mark_ready", "_selected_action": [failed.pk, retired.pk]},
        follow=True,
    )

    failed.refresh_from_db()
    retired.refresh_from_db()
    assert (failed.state, retired.state) == ("ready", "retired")
    assert Event.objects.get(verb="machine.state_changed").changes == {"state": ["failed", "ready"]}
    messages = page_messages(response)
    assert "1 machine(s) moved to ready." in messages
    assert any(m.startswith("retired-01: machine cannot go from 'retired'") for m in messages)


def test_retire_action_retires_through_the_lifecycle(admin_client, fleet):
    small = fleet["small"]

    admin_client.post(
        admin_url(Machine, "changelist"), {"action": "retire", "_selected_action": [small.pk]}
    )

    small.refresh_from_db()
    assert small.state == "retired"
    assert Event.objects.filter(verb="machine.state_changed", machine=small).exists()


# --- the audit log -------------------------------------------------------------------------


def test_events_are_read_only_in_the_admin(admin_client, fleet):
    event = Event.objects.first()
    assert event is not None
    verb_before = event.verb

    change = admin_client.post(admin_url(Event, "change", event.pk), {"verb": "edited"})
    delete = admin_client.post(admin_url(Event, "delete", event.pk), {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert Event.objects.get(pk=event.pk).verb == verb_before
