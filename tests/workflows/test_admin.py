"""Workflow admin pages load; commands and template edits go through the services."""

from __future__ import annotations

import pytest
from django.test import Client

from rackpilot.core.models import Event
from tests.workflows.conftest import TWO_ACTIONS
from workflows.models import AgentToken, Template, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client: Client) -> Client:
    return admin_client


def test_pages_load(staff, workflow, agent):
    token = AgentToken.objects.get()
    action = workflow.tasks.get().actions.first()
    for url in [
        "/admin/workflows/template/",
        "/admin/workflows/template/add/",
        f"/admin/workflows/template/{workflow.template_id}/change/",
        "/admin/workflows/workflow/",
        f"/admin/workflows/workflow/{workflow.pk}/change/",
        "/admin/workflows/action/",
        f"/admin/workflows/action/{action.pk}/change/",
        "/admin/workflows/agenttoken/",
        f"/admin/workflows/agenttoken/{token.pk}/change/",
    ]:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert agent.raw_token not in response.content.decode()
        assert token.token_hash not in response.content.decode()


def test_template_edit_checks_syntax_and_records_event(staff, template):
    bad = staff.post(
        f"/admin/workflows/template/{template.pk}/change/",
        {"name": template.name, "body": "x: {{ if }}\n", "description": ""},
    )
    assert bad.status_code == 200
    assert "1:" in bad.content.decode()
    template.refresh_from_db()
    assert template.body == TWO_ACTIONS

    good = staff.post(
        "/admin/workflows/template/add/",
        {"name": "new", "body": TWO_ACTIONS, "description": "d"},
    )
    assert good.status_code == 302
    assert Template.objects.filter(name="new").exists()
    assert Event.objects.filter(verb="template.created", object_repr="new").exists()


def test_cancel_action_goes_through_the_engine(staff, workflow):
    response = staff.post(
        "/admin/workflows/workflow/",
        {"action": "cancel", "_selected_action": [workflow.pk]},
        follow=True,
    )
    assert response.status_code == 200
    workflow.refresh_from_db()
    assert workflow.state == "cancelled"
    assert Event.objects.filter(verb="workflow.cancelled").exists()


def test_retry_of_a_pending_workflow_is_reported_not_applied(staff, workflow):
    response = staff.post(
        "/admin/workflows/workflow/",
        {"action": "retry", "_selected_action": [workflow.pk]},
        follow=True,
    )
    assert "cannot go from" in response.content.decode()
    assert Workflow.objects.get(pk=workflow.pk).state == "pending"


def test_revoke_tokens(staff, agent, machine):
    token = AgentToken.objects.get()
    staff.post("/admin/workflows/agenttoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert agent.next_action().status_code == 401
