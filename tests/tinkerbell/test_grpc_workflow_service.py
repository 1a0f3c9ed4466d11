"""Tinkerbell's WorkflowService, served by ``manage.py tinkerbell_grpc`` in its own process and
called over gRPC as tink-agent calls it."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from tests.tinkerbell.processes import CommandProcess, grpc_server, workflow_stub
from tinkerbell.agent_grpc import workflow_pb2 as pb
from workflows.models import Action, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create, workflow_retry

__all__ = ["grpc_server", "workflow_stub"]  # fixtures

pytestmark = pytest.mark.django_db(transaction=True)
TESTS = Actor.system("tests")
MAC = "52:54:00:7e:00:01"
TEMPLATE = """\
version: "0.1"
name: grpc-two
global_timeout: 600
tasks:
  - name: "os-installation"
    worker: "{{ .device_1 }}"
    volumes:
      - /dev:/dev
    environment:
      ZED: task
      SHARED: task
    actions:
      - name: "stream-image"
        image: 127.0.0.1:5000/actions/image2disk:v1
        timeout: 90
        volumes:
          - /tmp:/tmp
        environment:
          SHARED: action
          DEST_DISK: {{ index .Hardware.Disks 0 }}
      - name: "kexec"
        image: 127.0.0.1:5000/actions/kexec:v1
        timeout: 30
        pid: host
        command: ["kexec", "-e"]
"""
STATE = pb.ActionStatusRequest


def _machine(ip: str | None = "127.0.0.1") -> Any:
    machine = MachineFactory(hostname="tink-node")
    NetworkInterfaceFactory(machine=machine, mac=MAC, ip=ip, is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    return machine


def _workflow(machine: Any) -> Workflow:
    template = template_services.template_create(actor=TESTS, name="grpc-two", body=TEMPLATE)
    return workflow_create(template=template, machine=machine, actor=TESTS)


def _refusal(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    status = rpc_status.from_call(error)
    violations: list[str] = []
    for detail in status.details if status else []:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            violations += [v.type for v in failure.violations]
    return error.code(), error.details(), violations


def _get(stub: Any, **fields: Any) -> pb.ActionResponse:
    # wait_for_ready: across a server restart the call waits for the channel, as an agent retries.
    return stub.GetAction(pb.ActionRequest(agent_id=MAC, **fields), timeout=10, wait_for_ready=True)


def _report(stub: Any, action: pb.ActionResponse, state: int, message: str = "") -> None:
    stub.ReportActionStatus(
        pb.ActionStatusRequest(
            workflow_id=action.workflow_id,
            agent_id=MAC,
            task_id=action.task_id,
            action_id=action.action_id,
            action_name=action.name,
            action_state=state,
            message=pb.ActionMessage(message=message),
        ),
        timeout=10,
    )


def test_an_unknown_agent_is_not_found(workflow_stub):
    with pytest.raises(grpc.RpcError) as caught:
        workflow_stub.GetAction(pb.ActionRequest(agent_id="52:54:00:00:00:99"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "52:54:00:00:00:99" in caught.value.details()


def test_nothing_to_do_is_failed_precondition_with_no_action_available(workflow_stub):
    machine = _machine()
    with pytest.raises(grpc.RpcError) as caught:
        _get(workflow_stub)
    code, _, violations = _refusal(caught.value)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert violations == ["PRECONDITION_FAILURE_VIOLATION_NO_ACTION_AVAILABLE"]
    machine.refresh_from_db()
    assert machine.hardware in ({}, None)  # nothing is taken from an agent with nothing to do


def test_an_agent_is_served_only_from_its_interface_address(workflow_stub):
    _workflow(_machine(ip="10.77.0.5"))
    with pytest.raises(grpc.RpcError) as caught:
        _get(workflow_stub)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "10.77.0.5" in caught.value.details()


def test_a_workflow_runs_through_reports_and_a_server_restart(
    workflow_stub, grpc_server: CommandProcess
):
    machine = _machine()
    workflow = _workflow(machine)
    attributes = pb.AgentAttributes(
        cpu=pb.CPU(total_cores=4, total_threads=8, processors=[pb.Processor(model="EPYC")]),
        memory=pb.Memory(total="16GB"),
        block=[pb.Block(name="sda", size="2147483648", drive_type="SSD", serial_number="S1")],
        network=[pb.Network(name="eth0", mac=MAC.upper())],
        product=pb.Product(vendor="Acme", name="R1", serial_number="SN9"),
    )

    first = _get(workflow_stub, agent_attributes=attributes)
    assert (first.workflow_id, first.task_id, first.name) == (
        str(workflow.pk),
        "os-installation",
        "stream-image",
    )
    assert first.agent_id == MAC
    assert first.image == "127.0.0.1:5000/actions/image2disk:v1"
    assert first.timeout == 90
    # The task's environment overlaid by the action's, sorted; the task's volumes first.
    assert list(first.environment) == ["DEST_DISK=/dev/sda", "SHARED=action", "ZED=task"]
    assert list(first.volumes) == ["/dev:/dev", "/tmp:/tmp"]
    machine.refresh_from_db()
    assert machine.hardware["cpu"] == {"cores": 4, "threads": 8, "sockets": 1, "model": "EPYC"}
    assert machine.hardware["memory_bytes"] == 16 * 1024**3
    assert machine.hardware["disks"][0]["size_bytes"] == 2 * 1024**3
    assert machine.hardware["dmi"]["product_serial"] == "SN9"

    _report(workflow_stub, first, STATE.RUNNING)
    _report(workflow_stub, first, STATE.RUNNING)  # a retried report: answered like the first
    assert _get(workflow_stub) == first  # the running action again, as after an agent restart

    grpc_server.kill()
    grpc_server.start()
    assert _get(workflow_stub) == first  # and after a server restart
    _report(workflow_stub, first, STATE.SUCCESS)

    second = _get(workflow_stub)
    assert second.name == "kexec"
    assert second.workflow_id == first.workflow_id
    assert list(second.command) == ["kexec", "-e"]
    assert (second.pid, second.namespaces.pid) == ("host", "host")
    _report(workflow_stub, second, STATE.RUNNING)
    _report(workflow_stub, second, STATE.FAILED, message="kexec: no kernel loaded")

    workflow.refresh_from_db()
    assert workflow.state == Workflow.State.FAILED
    assert workflow.failure_reason["message"] == "kexec: no kernel loaded"
    assert workflow.failure_reason["action"] == "kexec"
    failed = Action.objects.get(task__workflow=workflow, name="kexec")
    assert (failed.state, failed.exit_code, failed.message) == (
        Action.State.FAILED,
        None,
        "kexec: no kernel loaded",
    )
    with pytest.raises(grpc.RpcError) as caught:
        _get(workflow_stub)
    assert _refusal(caught.value)[0] == grpc.StatusCode.FAILED_PRECONDITION


def test_a_report_about_an_attempt_since_retried_is_refused(workflow_stub):
    workflow = _workflow(_machine())
    first = _get(workflow_stub)
    _report(workflow_stub, first, STATE.RUNNING)
    _report(workflow_stub, first, STATE.FAILED, message="disk busy")
    workflow_retry(workflow=Workflow.objects.get(pk=workflow.pk), actor=TESTS)

    again = _get(workflow_stub)
    assert again.name == first.name
    assert again.action_id != first.action_id  # a new attempt
    with pytest.raises(grpc.RpcError) as caught:
        _report(workflow_stub, first, STATE.SUCCESS)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "attempt" in caught.value.details()


def test_bad_reports_are_refused_with_their_reason(workflow_stub):
    _workflow(_machine())
    action = _get(workflow_stub)
    with pytest.raises(grpc.RpcError) as caught:
        _report(workflow_stub, action, STATE.PENDING)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PENDING" in caught.value.details()
    unknown = pb.ActionResponse(**{**_fields(action), "action_id": "999999-1"})
    with pytest.raises(grpc.RpcError) as caught:
        _report(workflow_stub, unknown, STATE.RUNNING)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _fields(message: Any) -> dict[str, Any]:
    return {field.name: value for field, value in message.ListFields()}
