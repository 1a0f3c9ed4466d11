"""The template editor's server side: lint diagnostics at their line, and the render preview
of a template on a machine (masked secrets, unsaved bodies, permissions, nothing written)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from inventory.models import Machine
from rackpilot.core.models import Event
from rackpilot.core.secrets import MASK
from tests.tinkerbell.corpus import read, without_header
from tests.workflows.factories import UBUNTU_INSTALL, TemplateFactory, provisionable_machine
from workflows.models import Action, Task, Template, Workflow

pytestmark = pytest.mark.django_db

LINT = "/api/v1/templates/lint/"

SECRET_BODY = """\
version: "0.1"
name: secret-install
global_timeout: 900
tasks:
  - name: "install"
    worker: "{{ .device_1 }}"
    environment:
      ROOT_PASSWORD: hunter2
    actions:
      - name: "write-{{ .Hardware.Metadata.Instance.Hostname }}"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
          TOKEN: s3cr3t-join-token
"""


def render_url(template: Template) -> str:
    return f"/api/v1/templates/{template.pk}/render/"


def lint(client: APIClient, body: str, **extra: Any) -> dict[str, Any]:
    response = client.post(LINT, {"body": body, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def at(diagnostics: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(d["line"], d["severity"], d["kind"]) for d in diagnostics]


@pytest.fixture
def machine() -> Machine:
    machine = provisionable_machine(hostname="web-01")
    machine.metadata = {"instance": {"hostname": "web-01.example.net"}}
    machine.save()
    return machine


@pytest.fixture
def secrets_api(admin_member) -> APIClient:
    """An admin: holds inventory.view_secrets."""
    client = APIClient()
    client.force_authenticate(admin_member)
    return client


# --- lint ------------------------------------------------------------------------------------


def test_a_valid_body_has_no_diagnostics(api):
    result = lint(api, UBUNTU_INSTALL)

    assert result == {"valid": True, "saveable": True, "rendered_for": "sample", "diagnostics": []}


def test_a_broken_template_expression_is_the_syntax_error_saving_refuses(api):
    body = UBUNTU_INSTALL.replace("formatPartition", "formatPartitions")

    result = lint(api, body)

    (problem,) = result["diagnostics"]
    assert (problem["line"], problem["column"]) == (22, 28)
    assert problem["severity"] == "error" and problem["kind"] == "syntax"
    assert 'function "formatPartitions" not defined' in problem["message"]
    assert result["saveable"] is False and result["valid"] is False


def test_an_unclosed_action_is_a_syntax_error_at_its_line(api):
    body = UBUNTU_INSTALL.replace("{{.device_1}}", "{{ .device_1 ")

    result = lint(api, body)

    assert at(result["diagnostics"]) == [(6, "error", "syntax")]


def test_bad_yaml_is_an_error_at_its_line_that_saving_lets_through(api):
    lines = UBUNTU_INSTALL.splitlines()
    lines[10] = "        timeout: 600: x"  # line 11
    body = "\n".join(lines) + "\n"

    result = lint(api, body)

    assert at(result["diagnostics"]) == [(11, "error", "workflow")]
    assert result["diagnostics"][0]["message"].startswith("YAML: mapping values are not allowed")
    # Saving checks the template syntax only; the editor says so.
    assert result["saveable"] is True and result["valid"] is False


def test_an_unknown_key_is_an_error_at_the_key(api):
    body = UBUNTU_INSTALL.replace("pid: host\n", "pid: host\n        privileged: true\n")

    result = lint(api, body)

    (problem,) = result["diagnostics"]
    assert (problem["line"], problem["column"], problem["severity"]) == (21, 9, "error")
    assert problem["message"] == "unknown key 'privileged' in action 'kexec'"


def test_defaults_the_workflow_would_take_are_warnings_at_their_line(api):
    body = UBUNTU_INSTALL.replace("global_timeout: 1800\n", "").replace("        timeout: 90\n", "")

    result = lint(api, body)

    assert result["valid"] is True
    assert at(result["diagnostics"]) == [(1, "warning", "workflow"), (16, "warning", "workflow")]
    messages = [d["message"] for d in result["diagnostics"]]
    assert "no 'global_timeout'" in messages[0]
    assert messages[1] == "action 'kexec' has no 'timeout'; using 3600 s"


def test_a_key_the_sample_machine_lacks_is_only_a_warning(api, machine):
    body = UBUNTU_INSTALL.replace("http://10.1.1.11:8080/ubuntu.raw.gz", "{{ .img_url }}")

    on_sample = lint(api, body)
    on_machine = lint(api, body, machine=machine.pk)
    with_map = lint(
        api,
        body,
        machine=machine.pk,
        hardware_map={"device_1": machine.interfaces.get().mac, "img_url": "http://x/y.gz"},
    )

    assert at(on_sample["diagnostics"]) == [(15, "warning", "render")]
    assert (
        'on the sample machine: map has no entry for key "img_url"'
        in (on_sample["diagnostics"][0]["message"])
    )
    assert on_machine["rendered_for"] == "web-01"
    assert at(on_machine["diagnostics"]) == [(15, "error", "render")]
    assert with_map["diagnostics"] == []


def test_a_real_tinkerbell_template_lints_clean(api):
    """The current playground template, as published (a Template document: its spec.data)."""
    text = without_header(read("templates", "playground--ubuntu.yaml"))
    (document,) = [d for d in yaml.safe_load_all(text) if d]

    result = lint(api, document["spec"]["data"], name=document["metadata"]["name"])

    assert [d for d in result["diagnostics"] if d["severity"] == "error"] == []
    assert result["valid"] is True


def test_a_viewer_may_lint_but_not_on_a_machine(viewer_api, machine):
    assert viewer_api.post(LINT, {"body": UBUNTU_INSTALL}, format="json").status_code == 200

    response = viewer_api.post(LINT, {"body": UBUNTU_INSTALL, "machine": machine.pk})

    assert response.status_code == 403


def test_lint_without_a_body_is_a_field_error(api):
    response = api.post(LINT, {}, format="json")

    assert response.status_code == 400
    assert "body" in response.json()


# --- render preview --------------------------------------------------------------------------


def test_preview_renders_the_workflow_for_the_machine(api, machine):
    template = TemplateFactory(body=SECRET_BODY)
    mac = machine.interfaces.get().mac

    response = api.post(render_url(template), {"machine": machine.pk}, format="json")

    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["machine"] == {"id": machine.pk, "hostname": "web-01"}
    assert preview["hardware_map"] == {"device_1": mac}
    (task,) = preview["workflow"]["tasks"]
    assert task["worker"] == mac
    (action,) = task["actions"]
    assert action["name"] == "write-web-01.example.net"
    assert action["image"] == "quay.io/tinkerbell/actions/image2disk:latest"
    assert "name: write-web-01.example.net" in preview["yaml"]
    assert preview["warnings"] == [] and preview["refusals"] == []


def test_preview_masks_the_environment_without_view_secrets(api, machine):
    template = TemplateFactory(body=SECRET_BODY)

    preview = api.post(render_url(template), {"machine": machine.pk}, format="json").json()

    (task,) = preview["workflow"]["tasks"]
    assert task["environment"] == {"ROOT_PASSWORD": MASK}
    assert task["actions"][0]["environment"] == {
        "ROOT_PASSWORD": MASK,
        "DEST_DISK": MASK,
        "TOKEN": MASK,
    }
    assert preview["secrets_masked"] is True
    assert preview["rendered"] == MASK
    for secret in ("hunter2", "s3cr3t-join-token"):
        assert secret not in json.dumps(preview)


def test_preview_shows_the_environment_with_view_secrets(secrets_api, machine):
    template = TemplateFactory(body=SECRET_BODY)

    preview = secrets_api.post(render_url(template), {"machine": machine.pk}, format="json").json()

    action = preview["workflow"]["tasks"][0]["actions"][0]
    assert action["environment"] == {
        "ROOT_PASSWORD": "hunter2",
        "DEST_DISK": "/dev/sda",
        "TOKEN": "s3cr3t-join-token",
    }
    assert preview["secrets_masked"] is False
    assert "ROOT_PASSWORD: hunter2" in preview["rendered"]
    assert "TOKEN: s3cr3t-join-token" in preview["yaml"]


def test_preview_of_an_unsaved_body(api, machine):
    template = TemplateFactory(body=UBUNTU_INSTALL)
    edited = UBUNTU_INSTALL.replace('"stream-image"', '"stream-edited"')

    stored = api.post(render_url(template), {"machine": machine.pk, "body": edited})
    unsaved = api.post("/api/v1/templates/render/", {"machine": machine.pk, "body": edited})

    for response in (stored, unsaved):
        assert response.status_code == 200, response.content
        actions = response.json()["workflow"]["tasks"][0]["actions"]
        assert [a["name"] for a in actions] == ["stream-edited", "kexec"]
    template.refresh_from_db()
    assert template.body == UBUNTU_INSTALL


def test_a_body_that_does_not_render_is_a_400_naming_its_line(api, machine):
    template = TemplateFactory()
    body = UBUNTU_INSTALL.replace("index .Hardware.Disks 0 }}\n", "index .Hardware.Disks 3 }}\n")

    response = api.post(render_url(template), {"machine": machine.pk, "body": body})

    assert response.status_code == 400
    answer = response.json()
    assert answer["detail"].startswith("The template does not render for web-01 (line 14,")
    (error,) = answer["errors"]
    assert (error["line"], error["severity"], error["kind"]) == (14, "error", "render")
    assert "index out of range" in error["message"]


def test_preview_says_why_starting_it_now_would_be_refused(api, machine):
    machine.state = Machine.State.PROVISIONED
    machine.save()

    preview = api.post(render_url(TemplateFactory()), {"machine": machine.pk}).json()

    assert preview["workflow"]["tasks"][0]["actions"][0]["name"] == "stream-image"
    assert preview["refusals"] == [
        "web-01 is provisioned; a workflow starts on a ready or failed machine."
    ]


def test_preview_creates_nothing(api, machine):
    template = TemplateFactory()
    before = [model.objects.count() for model in (Workflow, Task, Action, Event, Template)]

    api.post(render_url(template), {"machine": machine.pk})
    api.post("/api/v1/templates/render/", {"machine": machine.pk, "body": UBUNTU_INSTALL})
    api.post(LINT, {"body": UBUNTU_INSTALL, "machine": machine.pk})

    after = [model.objects.count() for model in (Workflow, Task, Action, Event, Template)]
    assert after == before


def test_a_viewer_may_not_preview(viewer_api, machine):
    template = TemplateFactory()

    stored = viewer_api.post(render_url(template), {"machine": machine.pk})
    unsaved = viewer_api.post(
        "/api/v1/templates/render/", {"machine": machine.pk, "body": UBUNTU_INSTALL}
    )

    assert stored.status_code == 403
    assert unsaved.status_code == 403


# --- pages -----------------------------------------------------------------------------------


def test_the_editor_pages_load_codemirror_and_the_preview(operator_client):
    template = TemplateFactory()

    new = operator_client.get("/templates/new/").content.decode()
    edit = operator_client.get(f"/templates/{template.pk}/edit/").content.decode()

    for page in (new, edit):
        assert '<script type="importmap">' in page
        assert re.search(r'"@codemirror/view": "/static/vendor/[^"]+/view/index.js"', page)
        assert 'data-lint-url="/api/v1/templates/lint/"' in page
        # the textarea stays the form field, for browsers without JavaScript
        assert '<textarea name="body"' in page
    assert 'data-render-url="/api/v1/templates/render/"' in new
    assert f'data-render-url="/api/v1/templates/{template.pk}/render/"' in edit


def test_the_template_page_offers_the_preview_only_to_those_who_may_preview(
    client, operator, viewer
):
    url = f"/templates/{TemplateFactory().pk}/"

    client.force_login(operator)
    assert 'id="template-preview"' in client.get(url).content.decode()
    client.force_login(viewer)
    assert 'id="template-preview"' not in client.get(url).content.decode()
