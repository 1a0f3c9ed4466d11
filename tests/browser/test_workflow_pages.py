"""Templates and workflows as an operator uses them: a real Chromium, real HTMX, the live server."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from tests.factories import RackFactory, SiteFactory
from tests.workflows.factories import (
    UBUNTU_INSTALL,
    FakeAgent,
    TemplateFactory,
    provisionable_machine,
)
from workflows.models import Template, Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The Ubuntu template with a typo in a function name on line 22.
TYPO_BODY = UBUNTU_INSTALL.replace("formatPartition", "formatPartitions")


@pytest.fixture
def operator(operator):
    """The inventory operator, who may also manage templates and workflows."""
    operator.user_permissions.add(*Permission.objects.filter(content_type__app_label="workflows"))
    return operator


def set_body(page: Page, text: str) -> None:
    """Replace the template body in the editor (CodeMirror writes it into the form's field)."""
    page.locator("#template-editor .cm-content").wait_for()
    page.locator("#template-editor").evaluate(
        """(editor, text) => {
            const view = editor.editorView;
            view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
        }""",
        text,
    )


def test_write_a_template_fix_its_error_and_run_it_on_a_machine(
    signed_in_page: Page, live_server, screenshot
):
    page = signed_in_page
    rack = RackFactory(site=SiteFactory(name="Amsterdam 1", slug="ams1"), name="R07")
    machine = provisionable_machine(hostname="web-01", rack=rack, position=12)

    # given the operator writes a template with a typo on line 22
    page.goto(live_server.url + "/templates/")
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("ubuntu-noble")
    page.get_by_label("Description").fill("Ubuntu 24.04 on the first disk")
    set_body(page, TYPO_BODY)
    page.get_by_role("button", name="Create template").click()

    # then the error is shown next to the body, its line highlighted in the submitted body
    errors = page.locator("#body-errors")
    expect(errors).to_contain_text("Line 22, column 28")
    expect(errors).to_contain_text('function "formatPartitions" not defined')
    expect(page.locator("#body-excerpt .rp-line-error")).to_have_attribute("data-line", "22")
    expect(page.locator(".rp-editor-gutter .rp-ln-error")).to_have_text("22")
    # and the editor marks it there too, from the lint it asks for on load
    expect(page.locator(".cm-lint-marker-error")).to_have_count(1)
    assert not Template.objects.exists()
    screenshot("template-syntax-error")

    # the error link puts the editor's cursor on the offending line
    page.locator("#body-errors").get_by_role("link", name="Line 22, column 28").click()
    cursor_line = page.locator("#template-editor").evaluate(
        "e => e.editorView.state.doc.lineAt(e.editorView.state.selection.main.head).number"
    )
    assert cursor_line == 22

    # when they fix it and save
    set_body(page, UBUNTU_INSTALL)
    page.get_by_role("button", name="Create template").click()

    # then the template's page shows the body with line numbers
    expect(page.get_by_role("heading", name="ubuntu-noble")).to_be_visible()
    expect(page.locator("#template-body .rp-line")).to_have_count(23)
    expect(page.locator("#template-body #L22")).to_contain_text("formatPartition ( index")
    screenshot("template-detail")

    # when they start it from the machine's page, turning PXE off after success
    page.goto(live_server.url + f"/machines/{machine.pk}/")
    page.get_by_role("link", name="Start workflow").click()
    mac = machine.interfaces.get().mac
    expect(page.get_by_label("Hardware map")).to_have_value(f"device_1={mac}")
    page.get_by_label("Template").select_option(label="ubuntu-noble")
    page.get_by_label("Turn PXE off after success").check()
    screenshot("workflow-start")
    page.get_by_role("button", name="Start workflow").click()

    # then the workflow's page shows it pending, with its task and actions
    workflow = Workflow.objects.get(machine=machine)
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.pk}/$"))
    expect(page.locator("#workflow-page")).to_have_attribute("data-workflow-id", str(workflow.pk))
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Pending")
    expect(page.get_by_role("heading", name="Task 1: os-installation")).to_be_visible()
    actions = page.locator("tr[data-action-id]")
    expect(actions).to_have_count(2)
    expect(actions.nth(0)).to_contain_text("stream-image")
    expect(actions.nth(0)).to_contain_text("quay.io/tinkerbell/actions/image2disk:latest")
    expect(actions.nth(1)).to_contain_text("kexec")
    expect(page.locator(".rp-action-log")).to_have_count(2)
    expect(page.locator("#hardware-map")).to_contain_text(f"device_1 = {mac}")
    screenshot("workflow-pending")

    # when the machine's agent fails the first action, the page follows by itself (polling)
    FakeAgent(machine).fail(
        workflow,
        exit_code=1,
        message="image2disk: EOF while streaming",
        log=["Pulling quay.io/tinkerbell/actions/image2disk:latest", "error: unexpected EOF"],
    )
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Failed", timeout=8_000)
    expect(actions.nth(0).locator(".rp-badge")).to_have_text("Failed")
    expect(actions.nth(1).locator(".rp-badge")).to_have_text("Skipped")
    failure = page.locator("#workflow-failure")
    expect(failure).to_contain_text("image2disk: EOF while streaming")
    expect(failure.locator("pre")).to_contain_text("error: unexpected EOF")
    expect(page.locator("#workflow-tasks")).to_have_attribute("data-polling", "false")
    screenshot("workflow-failed")

    # and Retry (a button that appeared with the failure) sends it back to pending
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Workflow #{workflow.pk} retried.")
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Pending")
    workflow.refresh_from_db()
    assert workflow.state == "pending"


def test_bulk_start_from_the_filtered_machine_list(signed_in_page: Page, live_server, screenshot):
    page = signed_in_page
    rack = RackFactory(site=SiteFactory(name="Amsterdam 1", slug="ams1"), name="R07")
    other = RackFactory(site=SiteFactory(name="Frankfurt 2", slug="fra2"), name="F01")
    for n in (1, 2, 3):
        provisionable_machine(hostname=f"web-{n:02d}", rack=rack, position=n)
    refusing = provisionable_machine(hostname="web-04", rack=rack, position=4)
    refusing.allow_workflow = False
    refusing.save()
    provisionable_machine(hostname="db-01", rack=other, position=1)
    TemplateFactory(name="ubuntu-noble")

    # given the unfiltered machine list, there is no bulk start (it would hit every machine)
    page.goto(live_server.url + "/machines/")
    bulk = page.locator("#bulk-start")
    expect(bulk).to_be_hidden()

    # when the operator filters on a site, the button offers exactly those machines
    page.get_by_label("Site", exact=True).select_option(label="Amsterdam 1")
    expect(bulk).to_be_visible()
    expect(bulk).to_have_text(re.compile(r"Start workflow on these 4 machines"))
    expect(bulk).to_have_attribute("href", "/workflows/bulk/?site=ams1")
    screenshot("machine-list-bulk-button")
    bulk.click()

    # then the bulk page lists them, with the one that will refuse marked
    expect(page.get_by_role("heading", name="Start a workflow on 4 machines")).to_be_visible()
    expect(page.locator("#bulk-machines tbody tr")).to_have_count(4)
    expect(page.locator('tr[data-hostname="web-04"]')).to_contain_text("workflows not allowed")
    page.get_by_label("Template").select_option(label="ubuntu-noble")
    screenshot("workflow-bulk")

    # when they start without skipping refusals, nothing is created and the reason is listed
    page.get_by_role("button", name="Start on 4 machines").click()
    expect(page.locator("#bulk-summary")).to_contain_text("Nothing was started")
    expect(page.locator("#bulk-refused")).to_contain_text("allow_workflow is off")
    assert not Workflow.objects.exists()
    screenshot("workflow-bulk-refused")

    # and when they go back and skip refused machines, the others get their workflows
    page.get_by_role("link", name="go back").click()
    page.get_by_label("Template").select_option(label="ubuntu-noble")
    page.get_by_label("Skip refused machines").check()
    page.get_by_role("button", name="Start on 4 machines").click()
    expect(page.locator("#bulk-summary")).to_contain_text("3 workflows created; 1 machine skipped")
    expect(page.locator("#bulk-created tbody tr")).to_have_count(3)
    screenshot("workflow-bulk-result")

    # and the workflow list shows them, filterable by state without a reload
    page.get_by_role("link", name="Watch them in the workflow list").click()
    expect(page.locator("#workflow-table tbody tr[data-workflow-id]")).to_have_count(3)
    page.get_by_label("Search", exact=True).fill("web-03")
    expect(page.locator("#workflow-table tbody tr[data-workflow-id]")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=web-03"))
    screenshot("workflow-list")

    # and the template list counts them
    page.get_by_role("link", name="Templates").click()
    expect(page.locator('tr[data-name="ubuntu-noble"]')).to_contain_text("3")
    screenshot("template-list")
