"""Bulk commands from the machine and workflow lists: PXE, tag, retire, cancel.

The rows ticked on a list reach these pages as a filter (``?id=3&id=7``); the page shows the
selection with its digest and the command runs only on exactly that selection."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import Machine
from inventory.selection import SelectionChanged, machine_selection
from inventory.services_bulk import machine_bulk_set_pxe
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import MachineFactory, TagFactory
from tests.workflows.factories import TemplateFactory, WorkflowFactory
from workflows.models import Workflow
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db
PXE_DENY = reverse("dashboard:machine-bulk-pxe-deny")
PXE_ALLOW = reverse("dashboard:machine-bulk-pxe-allow")
TAG = reverse("dashboard:machine-bulk-tag")
RETIRE = reverse("dashboard:machine-bulk-retire")
CANCEL = reverse("workflows-ui:workflow-bulk-cancel")


def _machines(count: int = 4) -> list[Machine]:
    return [MachineFactory(hostname=f"bulk-{n:02d}") for n in range(1, count + 1)]


def _ids(*machines) -> str:
    return "&".join(f"id={m.pk}" for m in machines)


def _digest(client: Client, url: str) -> str:
    found = re.search(r'name="selection" value="([0-9a-f]+)"', client.get(url).content.decode())
    assert found is not None
    return found.group(1)


def _post(client: Client, url: str, **data: str):
    return client.post(url, {"selection": _digest(client, url), **data})


# --- the id filter ----------------------------------------------------------------------------


def test_ids_select_exactly_those_machines_in_both_spellings():
    one, two, three = _machines(3)
    assert set(machine_selection(filters={"id": [str(one.pk), str(three.pk)]}).ids) == {
        one.pk,
        three.pk,
    }
    assert machine_selection(filters={"id": f"{one.pk},{two.pk}"}).count == 2


def test_the_machine_list_filters_by_ids(operator_client: Client):
    one, _, three = _machines(3)
    html = operator_client.get(f"{reverse('dashboard:machine-list')}?{_ids(one, three)}").content
    assert re.findall(rb'<tr data-hostname="([^"]+)"', html) == [b"bulk-01", b"bulk-03"]


# --- PXE -------------------------------------------------------------------------------------


def test_the_page_shows_the_selection_before_anything_changes(operator_client: Client):
    one, two, _ = _machines(3)
    response = operator_client.get(f"{PXE_DENY}?{_ids(one, two)}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Deny PXE: 2 machines" in html and "bulk-01" in html and "bulk-03" not in html
    assert Machine.objects.filter(allow_pxe=False).count() == 0


def test_deny_pxe_changes_exactly_the_selected_machines(operator_client: Client):
    # given four machines, two of them ticked
    machines = _machines(4)
    url = f"{PXE_DENY}?{_ids(machines[0], machines[2])}"
    # when the operator confirms
    response = _post(operator_client, url, reason="rack move")
    # then those two, and only those, no longer netboot
    assert response.status_code == 200
    assert set(Machine.objects.filter(allow_pxe=False).values_list("hostname", flat=True)) == {
        "bulk-01",
        "bulk-03",
    }
    # and each has an event on its timeline, naming the command
    events = Event.objects.filter(verb="machine.updated", changes__allow_pxe=[True, False])
    assert sorted(e.machine.hostname for e in events) == ["bulk-01", "bulk-03"]
    assert all("rack move" in e.message and e.actor_name == "operator" for e in events)


def test_allow_pxe_leaves_retired_and_already_allowed_machines_alone(operator_client: Client):
    off, retired, on = _machines(3)
    Machine.objects.filter(pk__in=[off.pk, retired.pk]).update(allow_pxe=False)
    Machine.objects.filter(pk=retired.pk).update(state=MachineState.RETIRED)
    response = _post(operator_client, f"{PXE_ALLOW}?{_ids(off, retired, on)}")
    assert response.status_code == 200
    assert set(Machine.objects.filter(allow_pxe=True).values_list("hostname", flat=True)) == {
        off.hostname,
        on.hostname,
    }
    assert "retired: it does not netboot" in response.content.decode()
    assert Event.objects.filter(verb="machine.updated").count() == 1


def test_a_changed_selection_is_refused_and_nothing_changes(operator_client: Client):
    # given the page was shown for the machines of a filter
    _machines(2)
    url = f"{PXE_DENY}?q=bulk-"
    digest = _digest(operator_client, url)
    # when another machine starts matching before the operator confirms
    MachineFactory(hostname="bulk-late")
    response = operator_client.post(url, {"selection": digest})
    # then nothing is changed and the page says why
    assert response.status_code == 409
    assert "changed since the page was shown" in response.content.decode()
    assert not Machine.objects.filter(allow_pxe=False).exists()


def test_a_post_without_the_confirmed_digest_runs_nothing(operator_client: Client):
    one, _ = _machines(2)
    response = operator_client.post(f"{PXE_DENY}?{_ids(one)}", {})
    assert response.status_code == 409
    assert not Machine.objects.filter(allow_pxe=False).exists()


@pytest.mark.parametrize("query", ["", "racks=r1", "id=", "id=x"])
def test_an_empty_or_unknown_filter_selects_nothing(operator_client: Client, query: str):
    _machines(2)
    response = operator_client.post(f"{PXE_DENY}?{query}", {"selection": "whatever"})
    assert response.status_code == 400
    assert not Machine.objects.filter(allow_pxe=False).exists()


def test_the_service_refuses_a_stale_digest():
    one, two = _machines(2)
    selection = machine_selection(filters={"id": [str(one.pk)]})
    stale = machine_selection(filters={"id": [str(one.pk), str(two.pk)]}).digest
    with pytest.raises(SelectionChanged):
        machine_bulk_set_pxe(
            selection=selection, confirmed=stale, allow=False, actor=Actor.system("tests")
        )
    assert not Machine.objects.filter(allow_pxe=False).exists()


# --- tag -------------------------------------------------------------------------------------


def test_tag_adds_the_tag_to_the_selected_machines_and_keeps_their_others(
    operator_client: Client,
):
    one, two, three = _machines(3)
    old, gpu = TagFactory(name="old"), TagFactory(name="gpu")
    one.tags.add(old)
    two.tags.add(gpu)
    response = _post(operator_client, f"{TAG}?{_ids(one, two)}", tag="gpu")
    assert response.status_code == 200
    assert sorted(t.name for t in one.tags.all()) == ["gpu", "old"]
    assert [t.name for t in two.tags.all()] == ["gpu"]
    assert not three.tags.exists()
    (event,) = Event.objects.filter(verb="machine.updated")
    assert event.machine_id == one.pk and event.changes == {"tags": [["old"], ["gpu", "old"]]}


def test_tag_needs_a_tag(operator_client: Client):
    (one,) = _machines(1)
    response = _post(operator_client, f"{TAG}?{_ids(one)}", tag="")
    assert response.status_code == 400
    assert not one.tags.exists()


# --- retire ----------------------------------------------------------------------------------


def test_retire_moves_the_selected_machines_through_their_lifecycle(operator_client: Client):
    one, two, other = _machines(3)
    Machine.objects.filter(pk=two.pk).update(state=MachineState.RETIRED)
    response = _post(operator_client, f"{RETIRE}?{_ids(one, two)}", reason="end of lease")
    assert response.status_code == 200
    states = dict(Machine.objects.values_list("hostname", "state"))
    assert states == {one.hostname: "retired", two.hostname: "retired", other.hostname: "ready"}
    (event,) = Event.objects.filter(verb="machine.state_changed")
    assert event.machine_id == one.pk and "end of lease" in event.message
    assert "already retired" in response.content.decode()


# --- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [PXE_ALLOW, PXE_DENY, TAG, RETIRE, CANCEL])
def test_a_viewer_may_neither_see_nor_run_the_bulk_commands(viewer_client: Client, url: str):
    (one,) = _machines(1)
    assert viewer_client.get(f"{url}?id={one.pk}").status_code == 403
    assert viewer_client.post(f"{url}?id={one.pk}", {"selection": "x"}).status_code == 403


def test_a_viewer_gets_no_checkboxes_and_no_bulk_bar(viewer_client: Client):
    _machines(2)
    html = viewer_client.get(reverse("dashboard:machine-list")).content.decode()
    assert "data-rp-select" not in html and 'id="bulk-bar"' not in html
    html = viewer_client.get(reverse("workflows-ui:workflow-list")).content.decode()
    assert "data-rp-select" not in html and 'id="bulk-bar"' not in html


def test_an_operator_gets_checkboxes_and_every_command(operator_client: Client):
    _machines(2)
    html = operator_client.get(reverse("dashboard:machine-list")).content.decode()
    assert html.count("data-rp-select ") == 2 and "data-rp-select-page" in html
    for action in ("workflow", "power", "pxe-allow", "pxe-deny", "tag", "retire"):
        assert f'id="bulk-action-{action}"' in html


# --- cancelling workflows --------------------------------------------------------------------


def _workflows() -> list[Workflow]:
    template = TemplateFactory()
    states = [WorkflowState.PENDING, WorkflowState.RUNNING, WorkflowState.SUCCESS]
    states.append(WorkflowState.PENDING)
    return [
        WorkflowFactory(template=template, machine=machine, state=state)
        for machine, state in zip(_machines(4), states, strict=True)
    ]


def test_cancel_stops_the_selected_unfinished_workflows_only(operator_client: Client):
    pending, running, finished, untouched = _workflows()
    url = f"{CANCEL}?{_ids(pending, running, finished)}"
    page = operator_client.get(url).content.decode()
    assert "Cancel 3 workflows" in page and "<strong>2</strong> of 3" in page
    response = _post(operator_client, url, reason="wrong image")
    assert response.status_code == 200
    states = dict(Workflow.objects.values_list("pk", "state"))
    assert states == {
        pending.pk: "cancelled",
        running.pk: "cancelled",
        finished.pk: "success",
        untouched.pk: "pending",
    }
    assert Workflow.objects.get(pk=pending.pk).failure_reason["message"].endswith("wrong image")


def test_cancel_refuses_a_changed_selection(operator_client: Client):
    _workflows()
    url = f"{CANCEL}?state=pending"
    digest = _digest(operator_client, url)
    WorkflowFactory(state=WorkflowState.PENDING)
    assert operator_client.post(url, {"selection": digest}).status_code == 409
    assert not Workflow.objects.filter(state=WorkflowState.CANCELLED).exists()


@pytest.mark.parametrize("query", ["", "machines=x"])
def test_cancel_refuses_an_empty_or_unknown_filter(operator_client: Client, query: str):
    _workflows()
    assert operator_client.post(f"{CANCEL}?{query}", {"selection": "x"}).status_code == 400
    assert not Workflow.objects.filter(state=WorkflowState.CANCELLED).exists()
