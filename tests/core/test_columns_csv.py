"""Column choice and CSV export of the list pages: what is shown, what is exported, at what cost."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory import services
from inventory.list_columns import MACHINE_COLUMNS
from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.csv_export import cell
from tests.factories import (
    BMCFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    SiteFactory,
    TagFactory,
)
from tests.workflows.factories import TemplateFactory, WorkflowFactory

pytestmark = pytest.mark.django_db
MACHINES_CSV = reverse("dashboard:machine-list-export")


def _fleet(count: int, *, site: str = "ams1", prefix: str = "node") -> list[Machine]:
    """Machines with a boot NIC, a BMC and two tags, in a rack of ``site``."""
    rack = RackFactory(site=SiteFactory(slug=site, name=site.upper()))
    tags = [TagFactory(), TagFactory()]
    machines = []
    for n in range(count):
        machine = MachineFactory(hostname=f"{prefix}-{site}-{n:03d}", rack=rack, position=n + 1)
        NetworkInterfaceFactory(machine=machine)
        BMCFactory(machine=machine)
        machine.tags.set(tags)
        machines.append(machine)
    return machines


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- the column registry ---------------------------------------------------------------------


def test_no_choice_means_the_default_columns():
    chosen = MACHINE_COLUMNS.choose(QueryDict(""))
    assert chosen.is_default and chosen.param == ""
    assert chosen["hostname"] and chosen["state"] and not chosen["serial"]


def test_a_choice_keeps_known_keys_in_display_order_and_always_the_name():
    chosen = MACHINE_COLUMNS.choose(QueryDict("columns=serial,state,nonsense"))
    assert chosen.keys == ("hostname", "state", "serial")
    assert chosen.param == "hostname,state,serial"


def test_repeated_columns_keys_are_read_like_a_comma_list():
    chosen = MACHINE_COLUMNS.choose(QueryDict("columns=ip&columns=tags"))
    assert chosen.keys == ("hostname", "ip", "tags")


def test_only_unknown_keys_fall_back_to_the_defaults():
    assert MACHINE_COLUMNS.choose(QueryDict("columns=racks")).is_default


# --- the list page renders only the chosen columns ------------------------------------------


def test_the_machine_list_renders_only_the_chosen_columns(operator_client: Client):
    _fleet(2)
    html = operator_client.get(reverse("dashboard:machine-list") + "?columns=ip").content.decode()
    table = html[html.index('id="machine-table"') :]
    assert ">Hostname" in table and ">IP<" in table
    assert "Boot MAC" not in table and ">Tags<" not in table
    # the choice survives the filter form (a hidden field) and the sort headers
    assert 'name="columns" value="hostname,ip" form="list-filter"' in html
    assert "?columns=ip&amp;ordering=hostname" in html


def test_the_columns_menu_ticks_the_shown_columns(operator_client: Client):
    html = operator_client.get(reverse("dashboard:machine-list") + "?columns=serial").content
    menu = html.decode().split('data-rp-columns="machines"', 1)[1].split("</form>", 1)[0]
    assert 'value="serial" id="column-serial" checked' in menu
    assert 'value="state" id="column-state">' in menu  # not ticked


def test_the_export_link_carries_the_filter_and_the_columns(operator_client: Client):
    html = operator_client.get(
        reverse("dashboard:machine-list") + "?site=ams1&columns=ip&page=1"
    ).content.decode()
    assert f'href="{MACHINES_CSV}?site=ams1&amp;columns=ip"' in html


@pytest.mark.parametrize(
    "url_name",
    [
        "dashboard:machine-list",
        "workflows-ui:workflow-list",
        "builds:build-list",
        "dashboard:power-job-list",
        "event-log",
    ],
)
def test_every_list_offers_columns_and_an_export(operator_client: Client, url_name: str):
    html = operator_client.get(reverse(url_name)).content.decode()
    assert "data-rp-columns=" in html and 'id="export-csv"' in html
    assert "rackpilot/lists.js" in html


# --- the export ------------------------------------------------------------------------------


def test_the_export_streams_every_filtered_row_not_one_page(operator_client: Client):
    # given 60 machines in ams1 (more than a page of 50) and 3 elsewhere
    _fleet(60, site="ams1")
    _fleet(3, site="fra1")
    rows = _csv(operator_client.get(f"{MACHINES_CSV}?site=ams1&page=2"))
    assert len(rows) == 60
    assert {row["Site"] for row in rows} == {"AMS1"}


def test_the_export_writes_the_chosen_columns_in_the_lists_order(operator_client: Client):
    (machine,) = _fleet(1)
    response = operator_client.get(f"{MACHINES_CSV}?columns=serial,ip,pxe&ordering=-hostname")
    rows = _csv(response)
    assert list(rows[0]) == ["Hostname", "IP", "PXE", "Serial"]
    assert rows[0]["IP"] == machine.interfaces.get().ip
    assert rows[0]["PXE"] == "true"
    assert 'filename="machines-' in response["Content-Disposition"]


def test_the_export_makes_as_many_queries_for_30_rows_as_for_3(operator_client: Client):
    _fleet(3, site="ams1")
    url = f"{MACHINES_CSV}?columns=hostname,mac,ip,bmc,tags,site"
    with CaptureQueriesContext(connection) as three:
        assert len(_csv(operator_client.get(url))) == 3
    _fleet(27, site="fra1")
    with CaptureQueriesContext(connection) as thirty:
        assert len(_csv(operator_client.get(url))) == 30
    assert len(thirty) == len(three)


@pytest.mark.parametrize(
    "url_name",
    [
        "workflows-ui:workflow-list-export",
        "builds:build-list-export",
        "dashboard:power-job-list-export",
        "event-log-export",
    ],
)
def test_the_other_exports_answer_a_csv(operator_client: Client, url_name: str):
    template = TemplateFactory()
    for machine in _fleet(2):
        WorkflowFactory(template=template, machine=machine)
    rows = _csv(operator_client.get(reverse(url_name)))
    if url_name.startswith("workflows"):
        assert len(rows) == 2 and rows[0]["Template"] == template.name


def test_the_workflow_export_costs_the_same_for_30_workflows_as_for_3(operator_client: Client):
    template = TemplateFactory()
    url = reverse("workflows-ui:workflow-list-export")
    for machine in _fleet(3, site="ams1"):
        WorkflowFactory(template=template, machine=machine)
    with CaptureQueriesContext(connection) as three:
        assert len(_csv(operator_client.get(url))) == 3
    for machine in _fleet(27, site="fra1"):
        WorkflowFactory(template=template, machine=machine)
    with CaptureQueriesContext(connection) as thirty:
        assert len(_csv(operator_client.get(url))) == 30
    assert len(thirty) == len(three)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("web-01", "web-01"),
        (None, ""),
        (True, "true"),
        (["a", "b"], "a, b"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_defused(value: object, written: str):
    assert cell(value) == written


def test_an_exported_description_never_runs_as_a_formula(operator_client: Client):
    # given a machine whose description an attacker could have set through the API
    (machine,) = _fleet(1)
    services.machine_update(
        machine=machine, actor=Actor.system("tests"), description='=cmd|"/c calc"!A1'
    )
    rows = _csv(operator_client.get(f"{MACHINES_CSV}?columns=description"))
    assert rows[0]["Description"] == '\'=cmd|"/c calc"!A1'


def test_secrets_are_never_exported(operator_client: Client):
    # given a machine with user data and a BMC password, and every column asked for
    (machine,) = _fleet(1)
    services.machine_update(
        machine=machine, actor=Actor.system("tests"), user_data="#cloud-config\npassword: hunter2"
    )
    every = ",".join(column.key for column in MACHINE_COLUMNS.columns)
    text = b"".join(operator_client.get(f"{MACHINES_CSV}?columns={every}").streaming_content)
    assert b"hunter2" not in text and b"bmc-secret" not in text
    events = b"".join(operator_client.get(reverse("event-log-export")).streaming_content)
    assert b"hunter2" not in events


def test_a_filter_the_list_would_ignore_refuses_the_export(operator_client: Client):
    _fleet(2)
    response = operator_client.get(f"{MACHINES_CSV}?ip=not-an-ip")
    assert response.status_code == 400
    assert b"ip" in response.content


def test_the_export_needs_the_lists_permission(client: Client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get(MACHINES_CSV).status_code == 403
    assert client.get(reverse("event-log-export")).status_code == 403


def test_a_viewer_may_export_what_they_may_list(viewer_client: Client):
    _fleet(2)
    assert len(_csv(viewer_client.get(MACHINES_CSV))) == 2


def test_the_export_answers_only_get(operator_client: Client):
    assert operator_client.post(MACHINES_CSV).status_code == 405


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_streamed_piece_by_piece():
    # An ASGI server would read a synchronous iterator whole before sending a byte.
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from tests.factories import UserFactory

    user = await sync_to_async(UserFactory)(username="asgi-operator", role="operator")
    await sync_to_async(_fleet)(3)
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(MACHINES_CSV)
    assert response.status_code == 200 and response.is_async
    body = b"".join([piece async for piece in response.streaming_content])
    assert body.count(b"\n") == 4  # the header and three machines
