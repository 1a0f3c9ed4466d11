"""Dashboard pages of discovery, through Django's test client: the discovered machines, accepting
one, and the discovery rules with their dry run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import Machine
from netboot import discovery
from netboot.models import DiscoveryRule
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import (
    DiskFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    TagFactory,
)
from tests.workflows.conftest import TWO_ACTIONS
from workflows.models import Template
from workflows.services.templates import template_create

pytestmark = pytest.mark.django_db

TESTS = Actor.system("tests")
GiB = 1024**3


def hardware(*, vendor: str = "QEMU", memory: int = 16 * GiB, disks: int = 2) -> dict[str, Any]:
    """What an agent reports (see agent/rackpilot_agent/hardware.py)."""
    return {
        "cpu": {
            "model": "Intel(R) Xeon(R) Gold 6230",
            "cores": 20,
            "threads": 40,
            "arch": "x86_64",
        },
        "memory_bytes": memory,
        "dmi": {"sys_vendor": vendor},
        "disks": [
            {"device": f"/dev/vd{chr(97 + n)}", "size_bytes": 20 * GiB} for n in range(disks)
        ],
        "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01"}],
        "firmware": "uefi",
    }


def discovered_machine(mac: str, **reported: Any) -> Machine:
    """A machine as discovery enrolls it: discovered, named after its MAC, with NICs and disks."""
    machine = MachineFactory(
        hostname=discovery.discovered_hostname(mac),
        state=Machine.State.DISCOVERED,
        hardware=hardware(**reported),
        last_seen=timezone.now() - timedelta(minutes=3),
    )
    NetworkInterfaceFactory(machine=machine, mac=mac, ip=None, gateway=None, is_boot=True)
    for disk in machine.hardware["disks"]:
        DiskFactory(machine=machine, device=disk["device"], size_bytes=disk["size_bytes"])
    return machine


@pytest.fixture
def template() -> Template:
    return template_create(actor=TESTS, name="two-steps", body=TWO_ACTIONS)


def make_rule(template: Template, **values: Any) -> DiscoveryRule:
    values.setdefault("name", "qemu-boxes")
    values.setdefault("conditions", "dmi.sys_vendor = QEMU\nmemory_bytes >= 8G")
    return discovery.discovery_rule_create(actor=TESTS, template=template, **values)


def _shown_messages(client: Client, response) -> list[str]:
    assert response.status_code == 302
    page = client.get(response["Location"])
    return [str(message) for message in page.context["messages"]]


# --- access ----------------------------------------------------------------------------------


def _page_urls(machine: Machine, rule: DiscoveryRule) -> list[str]:
    return [
        reverse("discovery:overview"),
        reverse("discovery:machine-accept", args=[machine.pk]),
        reverse("discovery:rule-create"),
        reverse("discovery:rule-detail", args=[rule.pk]),
        reverse("discovery:rule-edit", args=[rule.pk]),
        reverse("discovery:rule-delete", args=[rule.pk]),
    ]


def test_every_page_sends_anonymous_visitors_to_the_login_page(client: Client, template):
    machine = discovered_machine("52:54:00:de:ad:01")
    rule = make_rule(template)
    for url in _page_urls(machine, rule):
        for response in (client.get(url), client.post(url)):
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/?next="), url
    machine.refresh_from_db()
    assert machine.state == "discovered"
    assert DiscoveryRule.objects.count() == 1


def test_every_page_renders_for_an_operator(operator_client: Client, template):
    machine = discovered_machine("52:54:00:de:ad:01")
    rule = make_rule(template)
    for url in _page_urls(machine, rule):
        expected = 403 if url.endswith("/delete/") else 200  # deleting is the admin role's
        assert operator_client.get(url).status_code == expected, url


def test_the_navigation_leads_to_discovery(operator_client: Client):
    html = operator_client.get(reverse("dashboard:home")).content.decode()
    assert f'href="{reverse("discovery:overview")}"' in html


def test_a_viewer_sees_the_pages_but_no_write_controls(viewer_client: Client, template):
    machine = discovered_machine("52:54:00:de:ad:01")
    rule = make_rule(template)
    overview = viewer_client.get(reverse("discovery:overview")).content.decode()
    assert machine.hostname in overview
    assert reverse("discovery:machine-accept", args=[machine.pk]) not in overview
    assert reverse("discovery:rule-create") not in overview
    detail = viewer_client.get(reverse("discovery:rule-detail", args=[rule.pk])).content.decode()
    assert reverse("discovery:rule-edit", args=[rule.pk]) not in detail
    assert reverse("discovery:rule-delete", args=[rule.pk]) not in detail


def test_a_viewer_cannot_accept_or_change_rules(viewer_client: Client, template):
    # given a discovered machine and a rule, and a user who may only look
    machine = discovered_machine("52:54:00:de:ad:01")
    rule = make_rule(template)
    rack = RackFactory()
    # when they post the accept form and the rule forms anyway
    accept = reverse("discovery:machine-accept", args=[machine.pk])
    assert viewer_client.get(accept).status_code == 403
    response = viewer_client.post(accept, {"hostname": "web-01", "rack": rack.pk, "position": 1})
    assert response.status_code == 403
    for name in ("rule-edit", "rule-delete"):
        assert viewer_client.post(reverse(f"discovery:{name}", args=[rule.pk])).status_code == 403
    assert viewer_client.post(reverse("discovery:rule-create"), {"name": "x"}).status_code == 403
    # then nothing changed
    machine.refresh_from_db()
    assert (machine.hostname, machine.state, machine.rack_id) == (
        "discovered-525400dead01",
        "discovered",
        None,
    )
    assert list(DiscoveryRule.objects.values_list("name", flat=True)) == ["qemu-boxes"]


# --- the discovery page ----------------------------------------------------------------------


def test_the_discovery_page_lists_the_discovered_machines_and_the_rules(
    operator_client: Client, template
):
    # given two discovered machines, one of which a rule matches, and a machine in the fleet
    qemu = discovered_machine("52:54:00:de:ad:01")
    dell = discovered_machine("52:54:00:de:ad:02", vendor="Dell Inc.", memory=64 * GiB, disks=1)
    ready = MachineFactory(hostname="web-01")
    rule = make_rule(template, priority=10)
    make_rule(template, name="never", conditions="# no dell yet\ncpu.threads > 1000", enabled=False)
    # when the operator opens the discovery page
    response = operator_client.get(reverse("discovery:overview"))
    html = response.content.decode()
    rows = {row.machine.hostname: row for row in response.context["rows"]}
    # then it lists the discovered machines only, with what their agents reported
    assert set(rows) == {qemu.hostname, dell.hostname}
    assert ready.hostname not in html
    assert "52:54:00:de:ad:01" in html
    assert "20 cores / 40 threads" in html
    assert rows[qemu.hostname].memory == "16 GiB"
    assert rows[dell.hostname].memory == "64 GiB"
    assert (rows[qemu.hostname].disk_count, rows[qemu.hostname].nic_count) == (2, 1)
    assert reverse("dashboard:machine-detail", args=[qemu.pk]) in html
    # and the rule discovery would apply to each
    assert rows[qemu.hostname].matching_rule == rule
    assert rows[dell.hostname].matching_rule is None
    # and the rules, by priority, with their template and number of conditions
    rules = [(c.rule.name, len(c.conditions)) for c in response.context["rules"]]
    assert rules == [("qemu-boxes", 2), ("never", 1)]
    assert reverse("discovery:rule-detail", args=[rule.pk]) in html
    assert reverse("workflows-ui:template-detail", args=[template.pk]) in html


def test_a_disabled_rule_is_never_the_matching_one(operator_client: Client, template):
    discovered_machine("52:54:00:de:ad:01")
    make_rule(template, enabled=False)
    response = operator_client.get(reverse("discovery:overview"))
    assert [row.matching_rule for row in response.context["rows"]] == [None]


def test_the_search_answers_htmx_with_the_table_only(operator_client: Client):
    discovered_machine("52:54:00:de:ad:01")
    discovered_machine("52:54:00:be:ef:02")
    response = operator_client.get(
        reverse("discovery:overview") + "?q=beef", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="list-table"')
    assert "discovered-525400beef02" in html
    assert "discovered-525400dead01" not in html


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("name", ["overview", "rule-detail"])
def test_the_pages_make_as_many_queries_for_30_machines_as_for_1(
    operator_client: Client, template, name
):
    # given one discovered machine and two rules
    rule = make_rule(template)
    make_rule(template, name="big", priority=5, conditions="memory_bytes >= 1T")
    url = reverse(f"discovery:{name}", args=[rule.pk] if name == "rule-detail" else [])
    discovered_machine("52:54:00:00:10:00")
    operator_client.get(url)  # session and permission caches warm
    with_one = _query_count(operator_client, url)
    # when 29 more are waiting
    for n in range(1, 30):
        discovered_machine(f"52:54:00:00:10:{n:02x}", memory=(n % 4) * 8 * GiB)
    # then the page makes exactly as many queries
    assert _query_count(operator_client, url) == with_one


# --- accepting a machine ---------------------------------------------------------------------


def test_an_operator_accepts_a_discovered_machine_into_a_rack(operator_client: Client):
    # given a discovered machine, a rack and a tag
    machine = discovered_machine("52:54:00:de:ad:01")
    rack = RackFactory(name="R07")
    tag = TagFactory(name="gpu")
    url = reverse("discovery:machine-accept", args=[machine.pk])
    # the form starts from the machine's current values
    form = operator_client.get(url).context["form"]
    assert form["hostname"].value() == "discovered-525400dead01"
    # when the operator names it, places it and tags it
    response = operator_client.post(
        url,
        {
            "hostname": "web-01",
            "rack": rack.pk,
            "position": 12,
            "u_height": 2,
            "face": "front",
            "full_depth": "on",
            "tags": [tag.pk],
        },
    )
    # then it joins the fleet, ready, where they put it, and the machine's page says so
    assert response["Location"] == reverse("dashboard:machine-detail", args=[machine.pk])
    assert _shown_messages(operator_client, response) == [
        "web-01 accepted into the fleet: it is ready."
    ]
    machine.refresh_from_db()
    assert (machine.hostname, machine.state) == ("web-01", "ready")
    assert (machine.rack_id, machine.position, machine.u_height) == (rack.pk, 12, 2)
    assert list(machine.tags.values_list("name", flat=True)) == ["gpu"]
    assert Event.objects.filter(verb="machine.accepted", machine=machine).count() == 1
    # and it no longer waits on the discovery page
    overview = operator_client.get(reverse("discovery:overview"))
    assert overview.context["rows"] == []


def test_the_machine_page_offers_acceptance_only_while_discovered(operator_client: Client, viewer):
    machine = discovered_machine("52:54:00:de:ad:07")
    page = reverse("dashboard:machine-detail", args=[machine.pk])
    accept = reverse("discovery:machine-accept", args=[machine.pk])
    assert accept in operator_client.get(page).content.decode()
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert accept not in viewer_client.get(page).content.decode()
    inventory_services.machine_accept(machine=machine, actor=Actor.system("tests"))
    assert accept not in operator_client.get(page).content.decode()


def test_a_taken_rack_position_is_a_form_error_and_the_machine_stays_discovered(
    operator_client: Client,
):
    # given a rack whose U10 holds another machine
    rack = RackFactory(name="R07")
    MachineFactory(hostname="db-01", rack=rack, position=10)
    machine = discovered_machine("52:54:00:de:ad:01")
    # when the operator tries to put the discovered machine there
    response = operator_client.post(
        reverse("discovery:machine-accept", args=[machine.pk]),
        {"hostname": "web-01", "rack": rack.pk, "position": 10, "u_height": 1, "face": "front"},
    )
    # then the form comes back with the clash on the position field
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["position"]
    assert "overlaps db-01" in errors["position"][0]
    html = response.content.decode()
    assert 'data-field="position"' in html
    assert 'name="position" value="10"' in html
    # and nothing was written: same name, still discovered, not in the rack
    machine.refresh_from_db()
    assert (machine.hostname, machine.state, machine.rack_id) == (
        "discovered-525400dead01",
        "discovered",
        None,
    )
    assert not Event.objects.filter(verb="machine.accepted").exists()


def test_a_hostname_in_use_is_a_form_error(operator_client: Client):
    MachineFactory(hostname="web-01")
    machine = discovered_machine("52:54:00:de:ad:01")
    response = operator_client.post(
        reverse("discovery:machine-accept", args=[machine.pk]),
        {"hostname": "web-01", "u_height": 1, "face": "front"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["hostname"] == [
        "A machine with this hostname already exists."
    ]
    machine.refresh_from_db()
    assert machine.state == "discovered"


def test_a_machine_that_is_no_longer_discovered_is_not_accepted_again(operator_client: Client):
    # given a machine already in the fleet
    machine = MachineFactory(hostname="web-01", state=Machine.State.READY)
    url = reverse("discovery:machine-accept", args=[machine.pk])
    # when the accept page is opened or posted, the operator lands on the machine's page
    for open_page in (
        lambda: operator_client.get(url),
        lambda: operator_client.post(url, {"hostname": "renamed", "u_height": 1, "face": "front"}),
    ):
        response = open_page()
        assert response["Location"] == reverse("dashboard:machine-detail", args=[machine.pk])
        assert _shown_messages(operator_client, response) == [
            "web-01 is ready: only a discovered machine is accepted."
        ]
    machine.refresh_from_db()
    assert machine.hostname == "web-01"


def test_a_machine_accepted_meanwhile_is_reported_not_accepted_twice(
    operator_client: Client, monkeypatch
):
    # given a rule accepts the machine just as the operator submits the form
    machine = discovered_machine("52:54:00:de:ad:01")
    accept = inventory_services.machine_accept

    def rule_first(*, machine: Machine, **values: Any) -> Machine:
        accept(machine=machine, actor=Actor.system("discovery rule qemu"))
        return accept(machine=machine, **values)

    monkeypatch.setattr(inventory_services, "machine_accept", rule_first)
    response = operator_client.post(
        reverse("discovery:machine-accept", args=[machine.pk]),
        {"hostname": "web-01", "u_height": 1, "face": "front"},
    )
    # then the operator lands on the machine's page, told why, and the rule's acceptance stands
    assert response["Location"] == reverse("dashboard:machine-detail", args=[machine.pk])
    assert _shown_messages(operator_client, response) == [
        "discovered-525400dead01 is ready; only a discovered machine can be accepted."
    ]
    machine.refresh_from_db()
    assert (machine.hostname, machine.state) == ("discovered-525400dead01", "ready")


# --- rules -----------------------------------------------------------------------------------


def _rule_form(template: Template, **values: Any) -> dict[str, Any]:
    return {
        "name": "qemu-boxes",
        "priority": 20,
        "description": "",
        "conditions": "dmi.sys_vendor = QEMU\r\nmemory_bytes >= 8G\r\n",
        "template": template.pk,
        "enabled": "on",
        **values,
    }


def test_an_operator_creates_a_rule_and_sees_what_it_matches(operator_client: Client, template):
    qemu = discovered_machine("52:54:00:de:ad:01")
    small = discovered_machine("52:54:00:de:ad:02", memory=4 * GiB)
    # when the operator creates a rule
    response = operator_client.post(reverse("discovery:rule-create"), _rule_form(template))
    # then it is saved as typed (line endings normalised) and its page opens
    rule = DiscoveryRule.objects.get()
    assert rule.conditions == "dmi.sys_vendor = QEMU\nmemory_bytes >= 8G\n"
    assert (rule.priority, rule.enabled, rule.template) == (20, True, template)
    assert response["Location"] == reverse("discovery:rule-detail", args=[rule.pk])
    assert _shown_messages(operator_client, response) == ["Discovery rule qemu-boxes created."]
    # and the page's dry run lists the machine it matches, and why the other does not match
    page = operator_client.get(response["Location"])
    assert [m.row.machine for m in page.context["matching"]] == [qemu]
    assert [m.row.machine for m in page.context["missing"]] == [small]
    assert [str(c) for c in page.context["missing"][0].failing] == ["memory_bytes >= 8G"]
    assert [t.holding for t in page.context["tallies"]] == [2, 1]
    html = page.content.decode()
    assert "line 2: memory_bytes &gt;= 8G" in html
    assert "this rule" in html


def test_condition_errors_name_their_line_and_nothing_is_saved(operator_client: Client, template):
    # when the conditions have a bad second and fourth line
    conditions = "dmi.sys_vendor = QEMU\r\nmemory_bytes >= lots\r\n# fine\r\nwhat is this\r\n"
    response = operator_client.post(
        reverse("discovery:rule-create"), _rule_form(template, conditions=conditions)
    )
    # then the form comes back with one error per bad line, naming it
    assert response.status_code == 400
    errors = response.context["form"].errors["conditions"]
    assert len(errors) == 2
    assert errors[0].startswith("line 2: >= compares numbers")
    assert errors[1].startswith("line 4: expected '<attribute> <operator> <value>'")
    html = response.content.decode()
    assert 'id="conditions-errors"' in html
    assert "Line 2: &gt;= compares numbers" in html
    # the syntax help is next to the textarea, and what was typed is kept
    assert 'id="conditions-help"' in html
    assert "memory_bytes &gt;= lots" in html
    assert not DiscoveryRule.objects.exists()


def test_a_duplicate_rule_name_is_a_form_error(operator_client: Client, template):
    make_rule(template)
    response = operator_client.post(reverse("discovery:rule-create"), _rule_form(template))
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "A discovery rule with this name already exists."
    ]


def test_an_operator_edits_a_rule(operator_client: Client, template):
    rule = make_rule(template)
    url = reverse("discovery:rule-edit", args=[rule.pk])
    form = operator_client.get(url).context["form"]
    assert form["conditions"].value() == rule.conditions
    assert form["template"].value() == template.pk
    # when they disable it and loosen its memory condition
    response = operator_client.post(
        url, _rule_form(template, enabled="", conditions="memory_bytes >= 2G", priority=5)
    )
    assert response["Location"] == reverse("discovery:rule-detail", args=[rule.pk])
    rule.refresh_from_db()
    assert (rule.enabled, rule.priority, rule.conditions) == (False, 5, "memory_bytes >= 2G")
    assert Event.objects.filter(verb="discovery_rule.updated").count() == 1


def test_a_bad_edit_keeps_the_rule_as_it_was(operator_client: Client, template):
    rule = make_rule(template)
    response = operator_client.post(
        reverse("discovery:rule-edit", args=[rule.pk]),
        _rule_form(template, conditions="memory_bytes ~ ([unclosed"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["conditions"][0].startswith("line 1: ")
    rule.refresh_from_db()
    assert rule.conditions == "dmi.sys_vendor = QEMU\nmemory_bytes >= 8G"


def test_a_rule_is_deleted_after_a_confirmation(admin_member_client: Client, template):
    rule = make_rule(template)
    url = reverse("discovery:rule-delete", args=[rule.pk])
    # the first visit only asks
    page = admin_member_client.get(url)
    assert "Delete discovery rule" in page.content.decode()
    assert DiscoveryRule.objects.exists()
    # posting the confirmation deletes it
    response = admin_member_client.post(url)
    assert response["Location"] == reverse("discovery:overview")
    assert _shown_messages(admin_member_client, response) == ["Discovery rule qemu-boxes deleted."]
    assert not DiscoveryRule.objects.exists()


def test_the_dry_run_names_the_rule_tried_first(operator_client: Client, template):
    # given two rules that both match a machine, "first" tried before "second"
    machine = discovered_machine("52:54:00:de:ad:01")
    make_rule(template, name="first", priority=1, conditions="")
    second = make_rule(template, name="second", priority=2)
    # when the second rule's page is opened
    page = operator_client.get(reverse("discovery:rule-detail", args=[second.pk]))
    # then the machine matches it, but discovery would apply the first rule
    [match] = page.context["matching"]
    assert match.row.machine == machine
    assert match.row.matching_rule.name == "first"
    assert "(tried first)" in page.content.decode()


def test_an_operator_runs_a_rule_over_the_waiting_machines(operator_client: Client, template):
    operator = get_user_model().objects.get(username="operator")
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_workflow", "change_machine"])
    )
    matching = discovered_machine("52:54:00:de:ad:31")
    other = discovered_machine("52:54:00:de:ad:32", vendor="Dell Inc.")
    rule = make_rule(template, name="qemu-now", conditions="dmi.sys_vendor = QEMU", enabled=False)
    detail = reverse("discovery:rule-detail", args=[rule.pk])
    apply = reverse("discovery:rule-apply", args=[rule.pk])
    assert apply in operator_client.get(detail).content.decode()

    response = operator_client.post(apply)

    assert response["Location"] == detail
    assert _shown_messages(operator_client, response) == [
        "qemu-now: 1 machine accepted, 1 workflow started."
    ]
    matching.refresh_from_db()
    other.refresh_from_db()
    assert (matching.state, other.state) == ("ready", "discovered")
    # Nothing waits that it matches any more: no button.
    assert apply not in operator_client.get(detail).content.decode()
