"""A second implementation talks to the server: a Go client generated from the project's .proto
by Debian's protoc-gen-go / protoc-gen-go-grpc (tests/goracle/tinkclient)."""

from __future__ import annotations

import pytest

from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from tests.goracle.grpc_client import run_tinkclient
from tests.tinkerbell.processes import CommandProcess, grpc_server
from workflows.models import Action, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

__all__ = ["grpc_server"]  # fixture

pytestmark = pytest.mark.django_db(transaction=True)
TESTS = Actor.system("tests")
MAC = "52:54:00:90:00:01"
TEMPLATE = """\
version: "0.1"
name: go-client
global_timeout: 600
tasks:
  - name: "os"
    worker: "{{ .device_1 }}"
    volumes: ["/dev:/dev"]
    environment: {B: task, A: task}
    actions:
      - name: "first"
        image: quay.io/tinkerbell/actions/image2disk:v1.0.0
        timeout: 120
        environment: {A: action}
        command: ["/bin/image2disk", "--verbose"]
      - name: "second"
        image: quay.io/tinkerbell/actions/kexec:v1.0.0
        timeout: 60
        pid: host
"""


def _machine():
    machine = MachineFactory(hostname="go-node")
    NetworkInterfaceFactory(machine=machine, mac=MAC, ip="127.0.0.1", is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    return machine


def _workflow(machine) -> Workflow:
    template = template_services.template_create(actor=TESTS, name="go-client", body=TEMPLATE)
    return workflow_create(template=template, machine=machine, actor=TESTS)


def test_go_reads_no_action_available_from_the_status_details(grpc_server: CommandProcess):
    _machine()
    result = run_tinkclient(grpc_server.address, MAC, "get")
    assert result["error"]["code"] == "FailedPrecondition"
    assert result["error"]["violations"] == ["PRECONDITION_FAILURE_VIOLATION_NO_ACTION_AVAILABLE"]
    unknown = run_tinkclient(grpc_server.address, "52:54:00:90:00:99", "get")
    assert unknown["error"]["code"] == "NotFound"


def test_go_client_runs_a_workflow_to_its_end(grpc_server: CommandProcess):
    machine = _machine()
    workflow = _workflow(machine)

    result = run_tinkclient(grpc_server.address, MAC, "-actions", "2", "-fail", "second", "run")

    assert "error" not in result, result
    first, second = result["ran"]
    assert (first["workflow_id"], first["task_id"], first["name"]) == (
        str(workflow.pk),
        "os",
        "first",
    )
    assert first["environment"] == ["A=action", "B=task"]
    assert first["volumes"] == ["/dev:/dev"]
    assert first["command"] == ["/bin/image2disk", "--verbose"]
    assert first["timeout"] == 120
    assert (second["pid"], second["namespace_pid"]) == ("host", "host")
    workflow.refresh_from_db()
    assert workflow.state == Workflow.State.FAILED
    assert workflow.failure_reason["message"] == "failed on purpose by tinkclient"
    states = dict(Action.objects.filter(task__workflow=workflow).values_list("name", "state"))
    assert states == {"first": Action.State.SUCCESS, "second": Action.State.FAILED}
    machine.refresh_from_db()
    assert machine.hardware["cpu"] == {"cores": 2, "threads": 4}
    assert machine.hardware["dmi"] == {"sys_vendor": "Go", "product_name": "tinkclient"}
