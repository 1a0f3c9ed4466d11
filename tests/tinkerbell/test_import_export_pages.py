"""Tinkerbell YAML in the dashboard: import (all or nothing, with the report), a dry run, and a
machine or workflow downloaded as Tinkerbell documents (only for those who see secrets)."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from inventory.models import Machine
from tests.factories import UserFactory
from tests.tinkerbell.corpus import read
from tests.workflows.factories import TemplateFactory, provisionable_machine, start
from workflows.models import Template

pytestmark = pytest.mark.django_db
HARDWARE = "vietcgi--gitops-hardware-multidoc.yaml"


@pytest.fixture
def admin_browser(client: Client) -> Client:
    client.force_login(UserFactory(username="boss", role="admin"))
    return client


def test_a_dry_run_writes_nothing_then_the_import_writes_all(admin_browser: Client) -> None:
    text = read("hardware", HARDWARE)

    checked = admin_browser.post("/tinkerbell/import/", {"text": text, "dry_run": "on"})
    assert checked.status_code == 200
    assert "Checked: this would import" in checked.content.decode()
    assert not Machine.objects.exists()

    imported = admin_browser.post("/tinkerbell/import/", {"text": text})

    assert "Imported 2 objects" in imported.content.decode()
    assert Machine.objects.count() == 2


def test_a_bad_file_imports_nothing_and_lists_its_problems(admin_browser: Client) -> None:
    broken = "apiVersion: tinkerbell.org/v1alpha1\nkind: Template\nmetadata: {name: t}\n"
    text = read("hardware", HARDWARE) + "\n---\n" + broken + "spec: {data: '{{ .nope }'}\n"

    answer = admin_browser.post("/tinkerbell/import/", {"text": text})

    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Nothing was imported" in page and "document 3" in page
    assert not Machine.objects.exists() and not Template.objects.exists()


def test_viewers_see_the_page_but_may_not_import(viewer_client: Client) -> None:
    assert viewer_client.get("/tinkerbell/import/").status_code == 200
    answer = viewer_client.post("/tinkerbell/import/", {"text": read("hardware", HARDWARE)})
    assert answer.status_code == 403
    assert not Machine.objects.exists()


def test_a_machine_and_a_workflow_download_as_tinkerbell_yaml(admin_browser: Client) -> None:
    machine = provisionable_machine(hostname="web-7")
    workflow = start(TemplateFactory(name="ubuntu"), machine)

    hardware = admin_browser.get(f"/machines/{machine.pk}/tinkerbell.yaml")
    assert hardware.status_code == 200, hardware.content[:300]
    exported = admin_browser.get(f"/workflows/{workflow.pk}/tinkerbell.yaml")

    assert hardware["Content-Disposition"] == 'attachment; filename="web-7.hardware.yaml"'
    (document,) = yaml.safe_load_all(hardware.content)
    assert (document["kind"], document["metadata"]["name"]) == ("Hardware", "web-7")
    (document,) = yaml.safe_load_all(exported.content)
    assert document["spec"]["templateRef"] == "ubuntu"
    # userData and metadata leave only with view_secrets
    operator = Client()
    operator.force_login(UserFactory(username="op", role="operator"))
    assert operator.get(f"/machines/{machine.pk}/tinkerbell.yaml").status_code == 403
