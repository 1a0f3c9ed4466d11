"""Tinkerbell's ``proto.WorkflowService`` on Rackpilot's engine: stock tink-agent runs workflows.

``GetAction`` serves the action the machine's agent should run now (the running one again after
a restart of the agent or of this server), ``ReportActionStatus`` applies a report through the
same services as Rackpilot's own agent: the same transitions, a repeated report answered like
the first, a stale one refused with ``FailedPrecondition``.

tink-agent has no credentials. A machine is served only while it has a pending or running
workflow, and where its interface has an IP address only to that address; an agent id that
names no interface is ``NotFound``, as in Tinkerbell.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

import grpc
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from inventory import services as inventory_services
from inventory.fields import normalize_mac
from inventory.models import Machine, NetworkInterface
from rackpilot.core.api.errors import ConflictError
from tinkerbell.agent_grpc import workflow_pb2 as pb
from tinkerbell.agent_grpc import workflow_pb2_grpc as pb_grpc
from tinkerbell.agent_grpc.hardware import hardware_report
from workflows.agent_protocol.services import (
    ActionReport,
    MachineRefusesWork,
    machine_next_action,
    machine_report_action,
)
from workflows.models import Action
from workflows.states import ActionState

logger = logging.getLogger(__name__)
Reply = TypeVar("Reply")

REPORTED_STATES = {
    pb.ActionStatusRequest.RUNNING: ActionState.RUNNING,
    pb.ActionStatusRequest.SUCCESS: ActionState.SUCCESS,
    pb.ActionStatusRequest.FAILED: ActionState.FAILED,
    pb.ActionStatusRequest.TIMEOUT: ActionState.TIMEOUT,
}
NO_ACTION = pb.PreconditionFailureViolation.Name(
    pb.PRECONDITION_FAILURE_VIOLATION_NO_ACTION_AVAILABLE
)


class Refused(Exception):
    """An RPC answered with a gRPC error status; ``violation`` adds a PreconditionFailure."""

    def __init__(self, code: grpc.StatusCode, message: str, violation: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violation = violation


def peer_address(peer: str) -> str | None:
    """The IP address of a gRPC peer (``ipv4:10.0.0.5:5000``, ``ipv6:%5B::1%5D:5000``)."""
    kind, _, rest = peer.partition(":")
    if kind not in {"ipv4", "ipv6"}:
        return None
    host = unquote(rest).rsplit(":", 1)[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def agent_machine(agent_id: str, peer: str) -> Machine:
    """The machine whose agent ``agent_id`` is (its worker id: a MAC of the machine), if the
    request comes from where that machine is."""
    try:
        mac = normalize_mac(agent_id)
    except ValidationError:
        raise Refused(grpc.StatusCode.NOT_FOUND, f"no hardware for agent id {agent_id!r}") from None
    interface = NetworkInterface.objects.select_related("machine").filter(mac=mac).first()
    if interface is None:
        raise Refused(grpc.StatusCode.NOT_FOUND, f"no hardware for agent id {mac}")
    source = peer_address(peer)
    if interface.ip and source != str(ipaddress.ip_address(interface.ip)):
        raise Refused(
            grpc.StatusCode.PERMISSION_DENIED,
            f"agent {mac} must connect from {interface.ip}, the interface's address",
        )
    return interface.machine


def action_response(action: Action, agent_id: str) -> pb.ActionResponse:
    environment = [f"{key}={value}" for key, value in sorted(action.environment.items())]
    return pb.ActionResponse(
        workflow_id=str(action.task.workflow_id),
        task_id=action.task.name,
        agent_id=agent_id,
        action_id=action_reference(action),
        name=action.name,
        image=action.image,
        timeout=action.timeout,
        command=list(action.command),
        volumes=list(action.volumes),
        environment=environment,
        pid=action.pid,
        namespaces=pb.Namespaces(pid=action.pid),
    )


def action_reference(action: Action) -> str:
    """The action id tink-agent echoes in its reports: the action and its attempt, so that a
    report about an attempt an operator has since retried is recognised as stale."""
    return f"{action.pk}-{action.attempt}"


def _parse_reference(text: str) -> tuple[int, int]:
    pk, _, attempt = text.partition("-")
    if not (pk.isdigit() and attempt.isdigit()):
        raise Refused(grpc.StatusCode.NOT_FOUND, f"no action {text!r}")
    return int(pk), int(attempt)


def _timestamp(stamp: Any) -> datetime | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def _status(code: grpc.StatusCode, message: str, violation: str) -> grpc.Status:
    """The status with, for "nothing to do", the PreconditionFailure tink-agent looks for."""
    details = []
    if violation:
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=violation, subject="rackpilot", description=message
                )
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        details.append(packed)
    number = code.value[0]
    return rpc_status.to_status(status_pb2.Status(code=number, message=message, details=details))


def rpc(method: Callable[..., Reply]) -> Callable[..., Reply]:
    """One RPC as Django runs one request: fresh database connections, and every refusal
    turned into its gRPC status (an unexpected error is logged and answered INTERNAL)."""

    @functools.wraps(method)
    def handle(self: Any, request: Any, context: grpc.ServicerContext) -> Reply:
        close_old_connections()
        try:
            return method(self, request, context)
        except Refused as refusal:
            status = _status(refusal.code, refusal.message, refusal.violation)
        except ConflictError as error:
            status = _status(grpc.StatusCode.FAILED_PRECONDITION, str(error), "")
        except MachineRefusesWork as error:
            status = _status(grpc.StatusCode.FAILED_PRECONDITION, str(error), "")
        except PermissionDenied as error:
            status = _status(grpc.StatusCode.PERMISSION_DENIED, str(error), "")
        except ValidationError as error:
            status = _status(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(error.messages), "")
        except Exception:
            logger.exception("tinkerbell grpc: %s failed", method.__name__)
            status = _status(grpc.StatusCode.INTERNAL, "internal error", "")
        finally:
            close_old_connections()
        context.abort_with_status(status)
        raise AssertionError("abort_with_status returns by raising")

    return handle


class WorkflowService(pb_grpc.WorkflowServiceServicer):
    @rpc
    def GetAction(self, request: pb.ActionRequest, context: grpc.ServicerContext) -> Any:
        machine = agent_machine(request.agent_id, context.peer())
        action = machine_next_action(machine=machine)
        if action is None:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION, "no action available", NO_ACTION)
        if request.HasField("agent_attributes"):
            hardware = hardware_report(request.agent_attributes)
            inventory_services.machine_mark_seen(machine=machine, hardware=hardware)
        return action_response(action, request.agent_id)

    @rpc
    def ReportActionStatus(
        self, request: pb.ActionStatusRequest, context: grpc.ServicerContext
    ) -> Any:
        machine = agent_machine(request.agent_id, context.peer())
        state = REPORTED_STATES.get(request.action_state)
        if state is None:
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"action_state {pb.ActionStatusRequest.StateType.Name(request.action_state)} "
                "is not a state an agent reports",
            )
        action_id, attempt = _parse_reference(request.action_id)
        if not Action.objects.filter(pk=action_id).exists():
            raise Refused(grpc.StatusCode.NOT_FOUND, f"no action {request.action_id!r}")
        stamp = request.execution_start if state == ActionState.RUNNING else request.execution_stop
        machine_report_action(
            machine=machine,
            report=ActionReport(
                action_id=action_id,
                attempt=attempt,
                state=state,
                message=request.message.message,
                at=_timestamp(stamp),
            ),
            exit_code_required=False,
        )
        return pb.ActionStatusResponse()
