"""REST API for templates and workflows: CRUD, operator actions, bulk, filters, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rackpilot.core.actors import Actor
from tests.factories import RackFactory
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.models import Template, Workflow
from workflows.services.engine import workflow_cancel, workflow_create

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def test_template_crud_and_syntax_errors_with_line(api, admin_api):
    created = api.post("/api/v1/templates/", {"name": "two", "body": TWO_ACTIONS})
    assert created.status_code == 201, created.json()
    template_id = created.json()["id"]

    broken = api.patch(
        f"/api/v1/templates/{template_id}/", {"body": 'name: x\nworker: "{{ .device_1 "\n'}
    )
    assert broken.status_code == 400
    assert broken.json()["body"][0].startswith("2:")
    assert Template.objects.get(pk=template_id).body == TWO_ACTIONS

    unknown_function = api.post(
        "/api/v1/templates/", {"name": "fn", "body": "a: {{ frobnicate .x }}\n"}
    )
    assert unknown_function.status_code == 400
    assert 'function "frobnicate" not defined' in unknown_function.json()["body"][0]
    assert api.delete(f"/api/v1/templates/{template_id}/").status_code == 403  # the admin's
    assert admin_api.delete(f"/api/v1/templates/{template_id}/").status_code == 204


def test_template_in_use_cannot_be_deleted(admin_api, workflow, template):
    response = admin_api.delete(f"/api/v1/templates/{template.pk}/")
    assert response.status_code == 400
    assert Template.objects.filter(pk=template.pk).exists()


def test_workflow_create_and_detail(api, admin_api, template, machine):
    response = api.post(
        "/api/v1/workflows/", {"template": "two-steps", "machine": "node-a"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "pending"
    assert body["hardware_map"] == {"device_1": "52:54:00:aa:00:01"}
    assert [a["name"] for a in body["tasks"][0]["actions"]] == ["write-disk", "reboot"]
    # The operator sees which variables are set, not their values; the admin sees them.
    assert body["spec"]["tasks"][0]["actions"][0]["environment"]["DEST_DISK"] == "********"
    assert body["tasks"][0]["actions"][0]["environment"]["DEST_DISK"] == "********"
    assert body["rendered"] == "********"
    detail = admin_api.get(f"/api/v1/workflows/{body['id']}/").json()
    assert detail["spec"]["tasks"][0]["actions"][0]["environment"]["DEST_DISK"] == "/dev/nvme0n1"
    assert detail["tasks"][0]["actions"][0]["environment"]["DEST_DISK"] == "/dev/nvme0n1"
    assert "DEST_DISK" in detail["rendered"]

    busy = api.post(
        "/api/v1/workflows/", {"template": "two-steps", "machine": "node-a"}, format="json"
    )
    assert busy.status_code == 409
    assert busy.json()["code"] == "machine_busy"


def test_workflow_render_error_is_400_naming_template_line(api, machine):
    Template.objects.create(
        name="bad-image",
        body='version: "0.1"\nname: x\nglobal_timeout: 60\ntasks:\n  - name: t\n'
        '    worker: "{{ .device_1 }}"\n    actions:\n      - name: a\n'
        "        image: Not/A Valid:Image\n        timeout: 10\n",
    )
    response = api.post(
        "/api/v1/workflows/", {"template": "bad-image", "machine": "node-a"}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["template"][0]
    assert message.startswith("9:")
    assert "not a valid image reference" in message
    assert not Workflow.objects.exists()


def test_cancel_retry_rerun_endpoints(api, workflow):
    cancelled = api.post(f"/api/v1/workflows/{workflow.pk}/cancel/", {"reason": "oops"})
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    again = api.post(f"/api/v1/workflows/{workflow.pk}/cancel/")
    assert again.status_code == 409

    retried = api.post(f"/api/v1/workflows/{workflow.pk}/retry/")
    assert retried.status_code == 200
    assert retried.json()["state"] == "pending"

    workflow_cancel(workflow=workflow, actor=SYSTEM)
    rerun = api.post(f"/api/v1/workflows/{workflow.pk}/rerun/")
    assert rerun.status_code == 201
    assert rerun.json()["rerun_of"] == workflow.pk


def test_viewers_cannot_start_or_cancel(viewer, workflow, template):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/v1/workflows/").status_code == 200
    assert client.post(f"/api/v1/workflows/{workflow.pk}/cancel/").status_code == 403
    assert (
        client.post(
            "/api/v1/workflows/", {"template": template.name, "machine": "node-a"}
        ).status_code
        == 403
    )


class TestBulk:
    @pytest.fixture
    def fleet(self, template):
        rack = RackFactory(site__slug="fra1", name="A1")
        machines = [make_machine(f"fra-{n}", f"52:54:00:f0:00:0{n}") for n in range(1, 4)]
        for index, machine in enumerate(machines, start=1):
            machine.rack = rack
            machine.position = index
            machine.save()
        return machines

    def test_all_valid_creates_one_workflow_each(self, api, fleet):
        response = api.post(
            "/api/v1/workflows/bulk/",
            {"template": "two-steps", "filter": {"site": "fra1"}},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert len(response.json()["created"]) == 3
        assert response.json()["refused"] == []

    def test_a_refusal_creates_nothing(self, api, fleet, template):
        workflow_create(template=template, machine=fleet[1], actor=SYSTEM)
        response = api.post(
            "/api/v1/workflows/bulk/",
            {"template": "two-steps", "filter": {"site": "fra1"}},
            format="json",
        )
        assert response.status_code == 400
        assert response.json()["created"] == []
        refused = response.json()["refused"]
        assert [r["machine"] for r in refused] == ["fra-2"]
        assert "unfinished workflow" in refused[0]["reason"]
        assert Workflow.objects.count() == 1

    def test_skip_refused_starts_the_others(self, api, fleet, template):
        workflow_create(template=template, machine=fleet[1], actor=SYSTEM)
        response = api.post(
            "/api/v1/workflows/bulk/",
            {"template": "two-steps", "filter": {"site": "fra1"}, "skip_refused": True},
            format="json",
        )
        assert response.status_code == 201
        assert sorted(w["machine"] for w in response.json()["created"]) == ["fra-1", "fra-3"]
        assert Workflow.objects.count() == 3

    def test_no_filter_and_bad_filter_are_refused(self, api, fleet):
        empty = api.post(
            "/api/v1/workflows/bulk/", {"template": "two-steps", "filter": {}}, format="json"
        )
        assert empty.status_code == 400
        bad = api.post(
            "/api/v1/workflows/bulk/",
            {"template": "two-steps", "filter": {"state": "melted"}},
            format="json",
        )
        assert bad.status_code == 400


def test_workflow_filters(api, template, machine, other_machine):
    workflow_create(template=template, machine=machine, actor=SYSTEM)
    done = workflow_create(template=template, machine=other_machine, actor=SYSTEM)
    workflow_cancel(workflow=done, actor=SYSTEM)
    names = lambda q: [w["machine"] for w in api.get(f"/api/v1/workflows/?{q}").json()["results"]]  # noqa: E731
    assert names("state=cancelled") == ["node-b"]
    assert names("machine=node-a") == ["node-a"]
    assert names("q=node-b") == ["node-b"]


def test_workflow_list_query_count_is_constant(api, template):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/workflows/?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    workflow_create(
        template=template, machine=make_machine("q-0", "52:54:00:0e:00:00"), actor=SYSTEM
    )
    one = count()
    for n in range(1, 15):
        workflow_create(
            template=template,
            machine=make_machine(f"q-{n}", f"52:54:00:0e:00:{n:02x}"),
            actor=SYSTEM,
        )
    assert count() == one


def test_workflow_detail_query_count_is_constant(api, template, machine):
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    with CaptureQueriesContext(connection) as ctx:
        api.get(f"/api/v1/workflows/{workflow.pk}/")
    assert len(ctx.captured_queries) <= 4


def test_schema_lists_workflow_and_agent_endpoints(api):
    paths = api.get("/api/v1/schema/?format=json").json()["paths"]
    for path in [
        "/api/v1/templates/",
        "/api/v1/workflows/",
        "/api/v1/workflows/{id}/cancel/",
        "/api/v1/workflows/{id}/retry/",
        "/api/v1/workflows/{id}/rerun/",
        "/api/v1/workflows/bulk/",
        "/api/v1/agent/next-action/",
        "/api/v1/agent/actions/{action_id}/state/",
        "/api/v1/agent/actions/{action_id}/logs/",
    ]:
        assert path in paths, path


def test_a_name_with_a_nul_character_is_a_400_naming_the_field(api, machine):
    # PostgreSQL answered the lookup with an error: a 500.
    response = api.post(
        "/api/v1/workflows/", {"template": "ubuntu\x00", "machine": machine.hostname}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json() == {"template": ["Null characters are not allowed."]}


def test_a_time_filter_with_a_far_offset_is_compared_in_utc(api, workflow):
    # Python takes offsets up to ±23:59; PostgreSQL refused those past ±15:59 with a 500.
    after = api.get("/api/v1/workflows/?created_after=2000-01-01T00:00:00%2B23:59")
    assert after.status_code == 200, after.content
    assert [row["id"] for row in after.json()["results"]] == [workflow.pk]
    before = api.get("/api/v1/workflows/?created_before=2000-01-01T00:00:00-23:59")
    assert before.json()["results"] == []
    assert (
        api.get("/api/v1/workflows/?created_after=0001-01-01T00:00:00%2B01:00").status_code == 400
    )
