"""A workflow's tasks run only on machines that may run them: a hardware_map cannot aim an
action at the MAC of a machine that disallows workflows, is retired or is busy elsewhere."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rackpilot.core.actors import Actor
from tests.workflows.conftest import make_machine
from workflows.models import Template, Workflow
from workflows.services.engine import workflow_create

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def _aimed_at(template: Template, other_mac: str) -> Workflow:
    own = make_machine("own-01", "52:54:00:77:00:01")
    return workflow_create(
        template=template, machine=own, actor=SYSTEM, hardware_map={"device_1": other_mac}
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"allow_workflow": False}, "allow_workflow is off"),
        ({"state": "retired"}, "it is retired"),
        ({"state": "provisioned"}, "it is provisioned"),
    ],
)
def test_a_worker_mac_of_a_machine_that_may_not_run_it_is_refused(
    template: Template, change: dict[str, object], reason: str
) -> None:
    other = make_machine("other-01", "52:54:00:77:00:02")
    type(other).objects.filter(pk=other.pk).update(**change)
    with pytest.raises(ValidationError) as caught:
        _aimed_at(template, "52:54:00:77:00:02")
    [message] = caught.value.message_dict["hardware_map"]
    assert "52:54:00:77:00:02 (other-01: " + reason + ")" in message
    assert not Workflow.objects.exists()


def test_a_worker_on_another_ready_machine_that_allows_workflows_is_accepted(
    template: Template,
) -> None:
    make_machine("other-02", "52:54:00:77:00:03")
    workflow = _aimed_at(template, "52:54:00:77:00:03")
    assert [task.worker for task in workflow.tasks.all()] == ["52:54:00:77:00:03"]
