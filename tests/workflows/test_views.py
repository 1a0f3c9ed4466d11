"""Dashboard pages of the workflows app, through Django's test client."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from tests.factories import MachineFactory, RackFactory, SiteFactory
from tests.workflows.factories import (
    UBUNTU_INSTALL,
    FakeAgent,
    TemplateFactory,
    WorkflowFactory,
    failed_workflow,
    provisionable_machine,
    start,
)
from workflows.models import Template, Workflow

pytestmark = pytest.mark.django_db

# The Ubuntu template with a typo in a function name, line 22 column 28.
TYPO_BODY = UBUNTU_INSTALL.replace("formatPartition", "formatPartitions")


def _messages(client: Client, response) -> list[str]:
    """The messages shown on the page a command redirects to (which consumes them)."""
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    shown = [str(message) for message in page.context["messages"]]
    for message in shown:
        assert escape(message) in html
    return shown


def _workflow_ids(response) -> list[int]:
    return [
        int(pk) for pk in re.findall(r'<tr data-workflow-id="(\d+)"', response.content.decode())
    ]


# --- access ----------------------------------------------------------------------------------


def _page_urls(workflow: Workflow) -> list[str]:
    return [
        reverse("workflows-ui:template-list"),
        reverse("workflows-ui:template-create"),
        reverse("workflows-ui:template-detail", args=[workflow.template_id]),
        reverse("workflows-ui:template-edit", args=[workflow.template_id]),
        reverse("workflows-ui:template-delete", args=[workflow.template_id]),
        reverse("workflows-ui:workflow-list"),
        reverse("workflows-ui:workflow-detail", args=[workflow.pk]),
        reverse("workflows-ui:workflow-live", args=[workflow.pk]),
        reverse("workflows-ui:workflow-start", args=[workflow.machine_id]),
        reverse("workflows-ui:workflow-bulk") + f"?q={workflow.machine.hostname}",
    ]


def test_every_page_and_command_sends_anonymous_visitors_to_the_login_page(client: Client):
    # given a workflow, and nobody signed in
    workflow = failed_workflow()
    commands = [
        reverse(f"workflows-ui:workflow-{verb}", args=[workflow.pk])
        for verb in ("cancel", "retry", "rerun")
    ]
    for url in _page_urls(workflow):
        # when a page is opened
        response = client.get(url)
        # then the visitor is sent to sign in
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    for url in commands:
        # and a command does nothing but send them there too
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    workflow.refresh_from_db()
    assert workflow.state == "failed"
    assert Workflow.objects.count() == 1


def test_every_page_renders_with_data(operator_client: Client):
    # given a failed workflow and a running one
    workflow = failed_workflow()
    running = start(workflow.template, provisionable_machine())
    FakeAgent(running.machine).run(running)
    for url in [*_page_urls(workflow), *_page_urls(running)]:
        # when an operator opens the page
        response = operator_client.get(url)
        # then it renders (deleting is the admin role's)
        assert response.status_code == (403 if url.endswith("/delete/") else 200), url
    # and the list pages name what they list
    listing = operator_client.get(reverse("workflows-ui:workflow-list")).content.decode()
    assert workflow.machine.hostname in listing
    assert "ubuntu-install" in listing
    templates = operator_client.get(reverse("workflows-ui:template-list")).content.decode()
    assert workflow.template.name in templates


def test_the_navigation_leads_to_templates_and_workflows(operator_client: Client):
    html = operator_client.get(reverse("dashboard:home")).content.decode()
    assert f'href="{reverse("workflows-ui:template-list")}"' in html
    assert f'href="{reverse("workflows-ui:workflow-list")}"' in html


def test_a_viewer_sees_no_buttons_and_cannot_write(viewer_client: Client):
    # given a failed workflow and a user who may only look
    workflow = failed_workflow()
    # when they open its page, there is nothing to press
    html = viewer_client.get(reverse("workflows-ui:workflow-detail", args=[workflow.pk]))
    assert b"workflow-retry" not in html.content
    assert reverse("workflows-ui:workflow-retry", args=[workflow.pk]).encode() not in html.content
    # and posting anyway is forbidden and changes nothing
    for url, data in [
        (reverse("workflows-ui:workflow-retry", args=[workflow.pk]), {}),
        (reverse("workflows-ui:template-create"), {"name": "x", "body": UBUNTU_INSTALL}),
        (reverse("workflows-ui:workflow-start", args=[workflow.machine_id]), {}),
    ]:
        assert viewer_client.post(url, data).status_code == 403, url
    workflow.refresh_from_db()
    assert workflow.state == "failed"
    assert not Template.objects.filter(name="x").exists()


# --- templates -------------------------------------------------------------------------------


def test_creating_a_template_keeps_the_body_verbatim(operator_client: Client, operator):
    # given a body typed in a browser (which submits CRLF line ends)
    body = UBUNTU_INSTALL.replace("\n", "\r\n")
    # when the form is submitted
    response = operator_client.post(
        reverse("workflows-ui:template-create"),
        {"name": "ubuntu-2404", "description": "Noble", "body": body},
    )
    # then the template exists, with the body as typed, and its page opens
    template = Template.objects.get(name="ubuntu-2404")
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows-ui:template-detail", args=[template.pk])
    assert template.body == UBUNTU_INSTALL
    assert template.created_by == operator
    page = operator_client.get(response["Location"]).content.decode()
    assert '<span class="rp-ln">22</span>' in page  # the body, line-numbered


def test_a_syntax_error_is_shown_at_its_line(operator_client: Client):
    # when a body with a typo on line 22 is submitted
    response = operator_client.post(
        reverse("workflows-ui:template-create"), {"name": "typo", "body": TYPO_BODY}
    )
    # then nothing is saved and the form comes back with the problem located
    assert response.status_code == 400
    assert not Template.objects.filter(name="typo").exists()
    html = response.content.decode()
    assert "Line 22, column 28" in html
    assert "function &quot;formatPartitions&quot; not defined" in html
    # the offending line is highlighted in the excerpt of the submitted body, caret at column 28
    highlighted = re.findall(r'<span class="rp-line rp-line-error" id="B(\d+)"', html)
    assert highlighted == ["22"]
    assert " " * 27 + "^ function" in html
    # and its number is marked in the editor's gutter
    gutter = re.search(r'<div class="rp-editor-gutter"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert gutter is not None
    assert re.findall(r'<span class="rp-ln-error">(\d+)</span>', gutter.group(1)) == ["22"]
    # and the body is given back as typed, to fix it
    assert "formatPartitions ( index .Hardware.Disks 0 ) 1" in html


def test_editing_a_template_saves_through_the_service(operator_client: Client):
    template = TemplateFactory(name="ubuntu")
    response = operator_client.post(
        reverse("workflows-ui:template-edit", args=[template.pk]),
        {"name": "ubuntu-jammy", "description": "22.04", "body": UBUNTU_INSTALL},
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.description) == ("ubuntu-jammy", "22.04")
    # a duplicate name is refused on the name field
    TemplateFactory(name="taken")
    response = operator_client.post(
        reverse("workflows-ui:template-edit", args=[template.pk]),
        {"name": "taken", "body": UBUNTU_INSTALL},
    )
    assert response.status_code == 400
    assert "A template with this name already exists." in response.content.decode()


def test_deleting_a_template_in_use_is_refused_with_a_message(admin_member_client: Client):
    # given a template one workflow uses, and one nobody uses
    used = failed_workflow().template
    unused = TemplateFactory()
    url = reverse("workflows-ui:template-delete", args=[used.pk])
    # the confirmation page already says so
    assert b"cannot be deleted" in admin_member_client.get(url).content
    # when the operator deletes it anyway
    response = admin_member_client.post(url)
    # then it stays, and the message says what uses it
    assert Template.objects.filter(pk=used.pk).exists()
    assert response["Location"] == reverse("workflows-ui:template-detail", args=[used.pk])
    [message] = _messages(admin_member_client, response)
    assert message.startswith("Template not deleted:")
    assert "still used by" in message
    # while the unused one goes
    response = admin_member_client.post(reverse("workflows-ui:template-delete", args=[unused.pk]))
    assert response["Location"] == reverse("workflows-ui:template-list")
    assert not Template.objects.filter(pk=unused.pk).exists()


def test_template_list_searches_and_counts_workflows(operator_client: Client):
    failed_workflow(TemplateFactory(name="ubuntu-noble", description="24.04"))
    TemplateFactory(name="flatcar", description="Container Linux")
    url = reverse("workflows-ui:template-list")
    response = operator_client.get(url, {"q": "container"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert re.findall(r'<tr data-name="([^"]+)"', html) == ["flatcar"]
    assert "<html" not in html  # HTMX gets the table only
    response = operator_client.get(url, {"ordering": "-workflows"})
    assert re.findall(r'<tr data-name="([^"]+)"', response.content.decode()) == [
        "ubuntu-noble",
        "flatcar",
    ]


# --- workflow list ---------------------------------------------------------------------------


def test_workflow_list_filters_narrow_the_table(operator_client: Client):
    # given workflows in two sites, with two templates and several states
    ams, fra = SiteFactory(slug="ams1"), SiteFactory(slug="fra1")
    noble, flatcar = TemplateFactory(name="noble"), TemplateFactory(name="flatcar")
    web = MachineFactory(hostname="web-01", rack=RackFactory(site=ams))
    db = MachineFactory(hostname="db-01", rack=RackFactory(site=fra))
    ok = WorkflowFactory(machine=web, template=noble, state="success")
    failed = WorkflowFactory(machine=web, template=flatcar, state="failed")
    running = WorkflowFactory(machine=db, template=noble, state="running")
    url = reverse("workflows-ui:workflow-list")
    cases = [
        ({}, {ok.pk, failed.pk, running.pk}),
        ({"state": ["failed", "running"]}, {failed.pk, running.pk}),
        ({"machine": "web-01"}, {ok.pk, failed.pk}),
        ({"template": "noble"}, {ok.pk, running.pk}),
        ({"site": "fra1"}, {running.pk}),
        ({"q": "flat"}, {failed.pk}),
        ({"q": "db-"}, {running.pk}),
        ({"template": "noble", "state": "success"}, {ok.pk}),
    ]
    for query, expected in cases:
        # when the list is filtered (as HTMX asks, table only)
        response = operator_client.get(url, query, HTTP_HX_REQUEST="true")
        # then only the matching workflows are listed
        assert set(_workflow_ids(response)) == expected, query


def test_workflow_list_shows_state_duration_and_failure(operator_client: Client):
    workflow = failed_workflow()
    html = operator_client.get(reverse("workflows-ui:workflow-list")).content.decode()
    assert 'data-state="failed"' in html
    assert "stream-image" in html
    assert "exit 2" in html
    assert "image2disk: unexpected EOF" in html
    assert reverse("dashboard:machine-detail", args=[workflow.machine_id]) in html


def _list_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_pages_make_the_same_number_of_queries_for_1_and_20_rows(operator_client: Client):
    # given one workflow (and its template)
    site = SiteFactory()
    template = TemplateFactory()
    WorkflowFactory(template=template, machine=MachineFactory(rack=RackFactory(site=site)))
    workflows_url = reverse("workflows-ui:workflow-list")
    templates_url = reverse("workflows-ui:template-list")
    operator_client.get(workflows_url)  # session and permission caches warm
    one = (
        _list_queries(operator_client, workflows_url),
        _list_queries(operator_client, templates_url),
    )
    # when there are twenty, over several templates, machines and states
    for n in range(19):
        WorkflowFactory(
            template=TemplateFactory() if n % 3 else template,
            machine=MachineFactory(rack=RackFactory(site=site)),
            state=["success", "failed", "running"][n % 3],
            failure_reason={"action": "stream-image", "exit_code": 1, "message": "boom"},
        )
    twenty = (
        _list_queries(operator_client, workflows_url),
        _list_queries(operator_client, templates_url),
    )
    # then the pages cost the same
    assert twenty == one


# --- workflow detail -------------------------------------------------------------------------


def test_detail_of_a_failed_workflow_explains_the_failure(operator_client: Client):
    workflow = failed_workflow()
    response = operator_client.get(reverse("workflows-ui:workflow-detail", args=[workflow.pk]))
    html = response.content.decode()
    assert f'data-workflow-id="{workflow.pk}"' in html
    # the failure block: action, exit code, message and the last log lines
    assert "Why it failed" in html
    assert "image2disk: unexpected EOF" in html
    log = re.search(r'<pre class="rp-pre" id="failure-log">(.*?)</pre>', html, re.DOTALL)
    assert log is not None
    assert log.group(1).splitlines() == ["Pulling image", "Writing /dev/sda", "error: short read"]
    # the tasks with their actions, and a log container per action
    assert html.count('class="rp-action-log"') == 2
    for action in workflow.tasks.get().actions.all():
        assert f'data-action-id="{action.pk}" data-attempt="{action.attempt}"' in html
    assert "quay.io/tinkerbell/actions/kexec:latest" in html
    # finished: no polling; retry and re-run are offered, cancel is not
    assert 'hx-trigger="every 3s"' not in html
    assert reverse("workflows-ui:workflow-retry", args=[workflow.pk]) in html
    assert reverse("workflows-ui:workflow-rerun", args=[workflow.pk]) in html
    assert reverse("workflows-ui:workflow-cancel", args=[workflow.pk]) not in html


def test_an_unfinished_workflow_polls_until_it_ends(operator_client: Client):
    # given a running workflow
    machine = provisionable_machine()
    workflow = start(TemplateFactory(), machine)
    agent = FakeAgent(machine)
    agent.run(workflow)
    page = operator_client.get(reverse("workflows-ui:workflow-detail", args=[workflow.pk]))
    live_url = reverse("workflows-ui:workflow-live", args=[workflow.pk])
    # then the tasks poll every 3 s, and only cancel is offered
    html = page.content.decode()
    assert f'hx-get="{live_url}" hx-trigger="every 3s"' in html
    assert reverse("workflows-ui:workflow-cancel", args=[workflow.pk]) in html
    # when it finishes, the next poll answers without the trigger (polling stops) and brings
    # the new state and buttons out of band
    agent.succeed_all(workflow)
    live = operator_client.get(live_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 3s"' not in live
    assert '<div id="workflow-status"' in live
    assert 'hx-swap-oob="true"' in live
    assert 'data-state="success"' in live
    assert reverse("workflows-ui:workflow-rerun", args=[workflow.pk]) in live


# --- operator commands -----------------------------------------------------------------------


def test_cancel_stops_a_workflow_and_a_second_cancel_is_a_message(operator_client: Client):
    machine = provisionable_machine()
    workflow = start(TemplateFactory(), machine)
    FakeAgent(machine).run(workflow)
    url = reverse("workflows-ui:workflow-cancel", args=[workflow.pk])
    # when the operator cancels the running workflow, saying why
    response = operator_client.post(url, {"reason": "wrong image"})
    # then it is cancelled, and the page says so
    workflow.refresh_from_db()
    assert workflow.state == "cancelled"
    assert workflow.failure_reason["cancelled_by"] == "operator"
    assert workflow.failure_reason["message"] == "cancelled by operator: wrong image"
    assert response["Location"] == reverse("workflows-ui:workflow-detail", args=[workflow.pk])
    assert _messages(operator_client, response) == [f"Workflow #{workflow.pk} cancelled."]
    # when they cancel it again, the refusal is a message, not an error page
    response = operator_client.post(url)
    assert response.status_code == 302
    [message] = _messages(operator_client, response)
    assert message.startswith(f"Workflow #{workflow.pk} could not be cancelled:")
    assert "'cancelled'" in message


def test_retry_puts_a_failed_workflow_back_to_pending(operator_client: Client):
    workflow = failed_workflow()
    response = operator_client.post(reverse("workflows-ui:workflow-retry", args=[workflow.pk]))
    workflow.refresh_from_db()
    assert workflow.state == "pending"
    assert workflow.attempt == 2
    assert _messages(operator_client, response) == [f"Workflow #{workflow.pk} retried."]


def test_retry_and_rerun_on_a_busy_machine_are_refused_with_a_message(operator_client: Client):
    # given a failed workflow, and a newer one already pending on the same machine
    workflow = failed_workflow()
    newer = start(workflow.template, workflow.machine)
    for verb in ("retry", "rerun"):
        # when the operator retries or re-runs the failed one
        response = operator_client.post(
            reverse(f"workflows-ui:workflow-{verb}", args=[workflow.pk])
        )
        # then the conflict is shown on its page and nothing changes
        assert response["Location"] == reverse("workflows-ui:workflow-detail", args=[workflow.pk])
        [message] = _messages(operator_client, response)
        assert "already has an unfinished workflow" in message, verb
    workflow.refresh_from_db()
    assert workflow.state == "failed"
    assert set(Workflow.objects.values_list("pk", flat=True)) == {workflow.pk, newer.pk}


def test_rerun_creates_a_new_workflow_and_opens_it(operator_client: Client):
    workflow = failed_workflow()
    response = operator_client.post(reverse("workflows-ui:workflow-rerun", args=[workflow.pk]))
    rerun = Workflow.objects.get(rerun_of=workflow)
    assert rerun.state == "pending"
    assert rerun.hardware_map == workflow.hardware_map
    assert response["Location"] == reverse("workflows-ui:workflow-detail", args=[rerun.pk])
    shown = _messages(operator_client, response)
    assert shown == [f"Workflow #{workflow.pk} re-run as #{rerun.pk}."]
