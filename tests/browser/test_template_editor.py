"""The template editor as an operator uses it: CodeMirror over the form's textarea, the server's
lint at the line it names while typing, and the render preview on a machine."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from inventory.models import Machine
from tests.workflows.factories import UBUNTU_INSTALL, TemplateFactory, provisionable_machine
from workflows.models import Template, Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The Ubuntu template with the machine's hostname in its first action's name.
BODY = UBUNTU_INSTALL.replace(
    '"stream-image"', '"stream-{{ .Hardware.Metadata.Instance.Hostname }}"'
)


def named_machine(hostname: str, instance_hostname: str) -> Machine:
    """A machine the template renders for, its instance hostname in its metadata."""
    machine = provisionable_machine(hostname=hostname)
    machine.metadata = {"instance": {"hostname": instance_hostname}}
    machine.save()
    return machine


def console_errors(page: Page) -> list[str]:
    """Script errors, errors the page logs, and requests that failed, but for the favicon the
    project has none of."""
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        # Chromium logs every failed load without naming it: responses are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def failed(response: Response) -> None:
        # A preview that does not render, a save the server refuses: their answers are 400s.
        expected = response.status == 400 and (
            response.url.endswith("/render/") or response.request.method == "POST"
        )
        if response.status >= 400 and not expected and "favicon" not in response.url:
            errors.append(f"{response.status} {response.url}")

    page.on("console", keep)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", failed)
    return errors


def select(page: Page, line: int, text: str) -> None:
    """Select ``text`` on editor line ``line`` (the keyboard types over it next)."""
    page.locator("#template-editor").evaluate(
        """(editor, [number, text]) => {
            const view = editor.editorView;
            const line = view.state.doc.line(number);
            const at = line.text.indexOf(text);
            if (at < 0) throw new Error(`no "${text}" on line ${number}`);
            const from = line.from + at;
            view.dispatch({ selection: { anchor: from, head: from + text.length } });
            view.focus();
        }""",
        [line, text],
    )


def line_of(page: Page, selector: str) -> int:
    """The editor line (1-based) a marker in the gutter or the text stands on, by its height."""
    marker = page.locator(selector).first.bounding_box()
    assert marker is not None
    middle = marker["y"] + marker["height"] / 2
    boxes = page.locator(".cm-content .cm-line").evaluate_all(
        "lines => lines.map(l => [l.getBoundingClientRect().top, l.getBoundingClientRect().bottom])"
    )
    return next(n for n, (top, bottom) in enumerate(boxes, start=1) if top <= middle < bottom)


def test_lint_at_the_line_while_typing_then_preview_on_a_machine(
    signed_in_page: Page, live_server, screenshot
):
    page = signed_in_page
    errors = console_errors(page)
    machine = named_machine("web-01", "web-01.ams1.example.net")
    template = TemplateFactory(name="ubuntu-noble", body=BODY)

    # given the editor of a valid template: CodeMirror took over the textarea, nothing to say
    page.goto(f"{live_server.url}/templates/{template.pk}/edit/")
    expect(page.locator("#template-editor")).to_have_attribute("data-ready", "true")
    expect(page.locator("textarea[name=body]")).to_be_hidden()
    # 23 lines and the empty one after the final newline
    expect(page.locator(".cm-content .cm-line")).to_have_count(24)
    status = page.locator("#lint-status")
    expect(status).to_have_text("No problems: renders on a sample machine.")

    # when the operator turns the kexec action's "pid" key into one Tinkerbell does not know
    select(page, 20, "pid")
    page.keyboard.type("pids")

    # then, a moment later, the server's error is marked on that line, in the text and gutter
    expect(status).to_have_text(
        "1 error when rendered on a sample machine; saving accepts it, a workflow would not start."
    )
    expect(page.locator(".cm-lintRange-error")).to_have_text("pids")
    expect(page.locator(".cm-lint-marker-error")).to_have_count(1)
    assert line_of(page, ".cm-lint-marker-error") == 20
    assert line_of(page, ".cm-lintRange-error") == 20
    page.locator(".cm-lint-marker-error").hover()
    expect(page.locator(".cm-tooltip-lint")).to_contain_text("unknown key 'pids' in action 'kexec'")
    screenshot("template-editor-lint")

    # when they fix it, the marker goes
    select(page, 20, "pids")
    page.keyboard.type("pid")
    expect(status).to_have_text("No problems: renders on a sample machine.")
    expect(page.locator(".cm-lint-marker-error")).to_have_count(0)

    # when they preview the body on web-01
    page.get_by_label("Machine", exact=True).fill("web-01")
    page.get_by_role("button", name="Render").click()

    # then they see the workflow web-01 would get, its environment masked (no view_secrets)
    expect(page.locator("#preview-hostname")).to_have_text("web-01")
    rendered = page.locator("#preview-yaml")
    expect(rendered).to_contain_text("name: stream-web-01.ams1.example.net")
    # YAML quotes a MAC only when its groups read as a base-60 number (all digits).
    mac = re.escape(machine.interfaces.get().mac)
    expect(rendered).to_contain_text(re.compile(rf"worker: '?{mac}'?"))
    expect(rendered).to_contain_text("image: quay.io/tinkerbell/actions/kexec:latest")
    expect(rendered).to_contain_text("DEST_DISK: '********'")
    expect(page.locator("#template-preview")).to_contain_text("Environment values are hidden")
    # and choosing the machine made the lint render on it
    expect(status).to_have_text("No problems: renders on web-01.")
    screenshot("template-editor-preview")

    # when the body asks for a disk web-01 does not have, the preview names the line
    select(page, 14, "0 }}")
    page.keyboard.type("3 }}")
    page.get_by_role("button", name="Render").click()
    failure = page.locator("#preview-error")
    expect(failure).to_contain_text("Does not render for web-01")
    expect(failure).to_contain_text("Line 14, column")
    expect(failure).to_contain_text("index out of range: 3")
    expect(status).to_contain_text("1 error when rendered on web-01")
    assert line_of(page, ".cm-lint-marker-error") == 14

    # nothing was started or saved by any of it
    assert not Workflow.objects.exists()
    assert Template.objects.get().body == BODY
    assert errors == []


def test_preview_on_the_template_page_and_the_editor_in_dark_mode(
    signed_in_page: Page, live_server, screenshot
):
    page = signed_in_page
    errors = console_errors(page)
    named_machine("db-01", "db-01.fra2.example.net")
    template = TemplateFactory(name="ubuntu-noble", body=BODY)

    # the template's page previews the stored body
    page.goto(f"{live_server.url}/templates/{template.pk}/")
    page.get_by_label("Machine", exact=True).fill("db-01")
    page.get_by_label("Machine", exact=True).press("Enter")
    expect(page.locator("#preview-hostname")).to_have_text("db-01")
    expect(page.locator("#preview-yaml")).to_contain_text("name: kexec")

    # the editor in dark mode, with a syntax error saving would refuse
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/templates/{template.pk}/edit/")
    expect(page.locator("#template-editor")).to_have_attribute("data-ready", "true")
    select(page, 22, "formatPartition")
    page.keyboard.type("formatPartitions")
    status = page.locator("#lint-status")
    expect(status).to_have_text("Saving would refuse this body: 1 error in its template syntax.")
    assert line_of(page, ".cm-lint-marker-error") == 22
    page.get_by_label("Machine", exact=True).fill("db-01")
    page.get_by_role("button", name="Render").click()
    failure = page.locator("#preview-error")
    expect(failure).to_contain_text('function "formatPartitions" not defined')
    assert page.evaluate("document.documentElement.getAttribute('data-bs-theme')") == "dark"
    screenshot("template-editor-dark")

    # saving sends what the editor holds: the server refuses it at the same line
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#body-errors")).to_contain_text("Line 22, column 28")
    expect(page).to_have_url(re.compile(rf"/templates/{template.pk}/edit/$"))
    assert errors == []
