"""One dispatcher for the agent protocol, shared by the WebSocket consumer and the REST views.

Each message type maps to a service call; errors become protocol errors with the HTTP status
the REST transport answers with (the WebSocket transport sends it in an ``error`` frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError, validation_detail
from rackpilot.core.statemachine import TransitionError
from workflows.agent_protocol import logs as agent_logs
from workflows.agent_protocol import services as agent_services
from workflows.agent_protocol import tokens as token_services
from workflows.models import AgentToken

# Enrols an unknown machine at its agent's first hello (discovery). The netboot app, which
# owns discovery, sets it from its AppConfig.ready; unset, such a hello is refused.
Enrolment = Callable[..., Any]
_enrolment: Enrolment | None = None


def register_enrolment(enrol: Enrolment) -> None:
    global _enrolment
    _enrolment = enrol


@dataclass
class ProtocolError(Exception):
    status: int
    code: str
    detail: Any

    def as_frame(self, reply_to: Any = None) -> dict[str, Any]:
        frame = {"type": "error", "status": self.status, "code": self.code, "detail": self.detail}
        if reply_to is not None:
            frame["reply_to"] = reply_to
        return frame


def _int(payload: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({key: "Expected an integer."})
    return value


def _time(payload: dict[str, Any], key: str) -> datetime | None:
    value = payload.get(key)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationError({key: "Expected an ISO 8601 timestamp."}) from None
    return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed


@transaction.atomic
def _hello(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    """Identify the agent. With a boot nonce, the whole hello is one transaction: the nonce is
    spent only when the machine is enrolled (discovery) and the worker id checked out, and the
    welcome then carries the session token the agent uses from here on."""
    worker_id = payload.get("worker_id")
    if not isinstance(worker_id, str):
        raise ValidationError({"worker_id": "Expected the agent's worker id (its boot MAC)."})
    hardware = payload.get("hardware")
    if hardware is not None and not isinstance(hardware, dict):
        raise ValidationError({"hardware": "Expected an object."})
    discovering = token.purpose in (AgentToken.Purpose.DISCOVERY, AgentToken.Purpose.BOOT)
    if discovering and token.machine_id is None:
        # An unknown machine's first hello enrols it; the token then belongs to it.
        if _enrolment is None:
            raise PermissionDenied("discovery is not available: nothing enrols machines")
        _enrolment(token=token, worker_id=worker_id, hardware=hardware)
    welcome = agent_services.agent_hello(token=token, worker_id=worker_id, hardware=hardware)
    reply: dict[str, Any] = {"type": "welcome", **welcome}
    if token.purpose == AgentToken.Purpose.BOOT:
        session, raw = token_services.boot_nonce_exchange(
            nonce=token, actor=Actor.agent(welcome["worker_id"])
        )
        reply |= {
            "token": raw,
            "expires_at": session.expires_at.isoformat(),
            "workflow": session.workflow_id,
        }
    return reply


def _next_action(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    action = agent_services.agent_next_action(token=token)
    if action is None:
        return {"type": "no_work"}
    return {"type": "action", "action": action}


def action_report(payload: dict[str, Any]) -> agent_services.ActionReport:
    """An ``action_state`` message as a report; ValidationError if it cannot be one."""
    reaction = payload.get("reaction")
    if reaction is not None and not isinstance(reaction, dict):
        raise ValidationError({"reaction": "Expected an object."})
    message = payload.get("message", "")
    return agent_services.ActionReport(
        action_id=_int(payload, "action") or 0,
        attempt=_int(payload, "attempt") or 0,
        state=str(payload.get("state", "")),
        exit_code=_int(payload, "exit_code", required=False),
        message=message if isinstance(message, str) else str(message),
        at=_time(payload, "at"),
        reaction=reaction,
    )


def action_state_ack(result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "action_state_ack", **result}


def _action_state(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    report = action_report(payload)
    return action_state_ack(agent_services.agent_report_action(token=token, report=report))


def log_batch(token: AgentToken, payload: dict[str, Any]) -> agent_logs.LogBatch:
    """A ``logs`` message as a batch to store; ProtocolError if it cannot be one."""
    refuse_boot_nonce(token, "logs")
    try:
        return agent_logs.LogBatch(
            token=token,
            action_id=_int(payload, "action") or 0,
            attempt=_int(payload, "attempt") or 0,
            first_seq=_int(payload, "first_seq") or 0,
            lines=payload.get("lines"),
        )
    except ValidationError as exc:
        raise as_protocol_error(exc) from exc


def logs_ack(stored: dict[str, Any]) -> dict[str, Any]:
    return {"type": "logs_ack", **stored}


def _logs(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    return logs_ack(agent_logs.store_log_batch(log_batch(token, payload)))


def _hardware(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    agent_services.agent_report_hardware(token=token, hardware=payload.get("hardware"))
    return {"type": "hardware_ack"}


def _renew_token(token: AgentToken, payload: dict[str, Any]) -> dict[str, Any]:
    new_token, raw = token_services.agent_token_renew(
        token=token, actor=Actor.agent(token.machine.hostname if token.machine else "discovery")
    )
    return {"type": "token", "token": raw, "expires_at": new_token.expires_at.isoformat()}


HANDLERS: dict[str, Callable[[AgentToken, dict[str, Any]], dict[str, Any]]] = {
    "hello": _hello,
    "next_action": _next_action,
    "action_state": _action_state,
    "logs": _logs,
    "hardware": _hardware,
    "renew_token": _renew_token,
}


def refuse_boot_nonce(token: AgentToken, message_type: str) -> None:
    if token.purpose == AgentToken.Purpose.BOOT and message_type != "hello":
        raise ProtocolError(
            403,
            "boot_nonce",
            "a boot nonce is only good for the first hello; use the session token it returned",
        )


def dispatch(token: AgentToken, message_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one protocol message; raises ProtocolError for anything refused."""
    handler = HANDLERS.get(message_type)
    if handler is None:
        raise ProtocolError(400, "unknown_type", f"unknown message type '{message_type}'")
    refuse_boot_nonce(token, message_type)
    try:
        return handler(token, payload)
    except REFUSALS as exc:
        raise as_protocol_error(exc) from exc


# What a service raises for a message it refuses, as a protocol error.
REFUSALS = (ValidationError, PermissionDenied, TransitionError, ConflictError)


def as_protocol_error(exc: Exception) -> ProtocolError:
    if isinstance(exc, ValidationError):
        return ProtocolError(400, "invalid", validation_detail(exc))
    if isinstance(exc, PermissionDenied):
        return ProtocolError(403, "forbidden", str(exc))
    if isinstance(exc, TransitionError | ConflictError):
        return ProtocolError(409, exc.code, str(exc))
    raise TypeError(f"not a refusal: {exc!r}")
