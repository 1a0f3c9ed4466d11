"""Agent tokens: issued, authenticated, revoked, and the boot nonce → session exchange.

A netbooting machine's kernel command line is readable by every privileged action container
it runs, so netboot never puts a lasting credential there. The iPXE script carries a *boot
nonce* (purpose ``boot``), issued only when the machine has something to do: a pending or
running workflow (the nonce names it), or discovery. The agent's first ``hello`` spends the
nonce and gets a *session* token back (purpose ``session``), bound to the same machine and
workflow. A session ends with its workflow (a short grace lets the last reports and log lines
in) and cannot be renewed past it; a new boot of the machine ends its earlier sessions.

Operator-issued ``agent`` tokens (``manage.py issue_agent_token``) are bound to a machine only
and keep their own expiry.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.services import lock
from workflows.models import AgentToken, Workflow, hash_token
from workflows.states import WORKFLOW_UNFINISHED

TOKEN_PREFIX = "rpa_"
Purpose = AgentToken.Purpose


class AgentAuthenticationError(Exception):
    code = "invalid_token"


def _session_grace() -> timedelta:
    return timedelta(seconds=settings.AGENT_SESSION_GRACE_SECONDS)


# No savepoint of its own: nothing catches its errors to carry on in an outer transaction, and
# netboot issues one per served script.
@transaction.atomic(savepoint=False)
def agent_token_issue(
    *,
    machine: Machine | None,
    actor: Actor,
    ttl: timedelta | None = None,
    purpose: str = Purpose.AGENT,
    mac: str = "",
    workflow: Workflow | None = None,
    description: str = "",
) -> tuple[AgentToken, str]:
    """A new token; the raw value is returned once and only its hash is stored."""
    if purpose in (Purpose.AGENT, Purpose.SESSION) and machine is None:
        raise ValidationError({"machine": "An agent or session token belongs to a machine."})
    if purpose == Purpose.BOOT and machine is None and not mac:
        raise ValidationError({"machine": "A boot nonce belongs to a machine or a MAC."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = ttl or timedelta(seconds=settings.AGENT_TOKEN_TTL_SECONDS)
    token = AgentToken.objects.create(
        machine=machine,
        purpose=purpose,
        mac=mac,
        workflow=workflow,
        token_hash=hash_token(raw),
        prefix=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        description=description,
        expires_at=timezone.now() + lifetime,
    )
    record_event(
        actor=actor,
        verb="agent_token.issued",
        obj=token,
        machine=machine,
        changes={"purpose": purpose, "workflow": workflow.pk if workflow else None},
        message=f"expires {token.expires_at.isoformat()}",
    )
    return token, raw


@transaction.atomic
def agent_token_revoke(*, token: AgentToken, actor: Actor) -> AgentToken:
    token = lock(token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(actor=actor, verb="agent_token.revoked", obj=token, machine=token.machine_id)
    return token


def _session_ended(token: AgentToken) -> str:
    """Why a session (or nonce) bound to a workflow no longer works ("" while it does)."""
    workflow = token.workflow
    if workflow is None or workflow.state in WORKFLOW_UNFINISHED:
        return ""
    ended = workflow.finished_at or workflow.updated_at
    if ended + _session_grace() > timezone.now():
        return ""  # the agent's last reports and log lines of the workflow still land
    return f"workflow #{workflow.pk} is {workflow.state}: the session ended with it"


def agent_token_authenticate(raw: str) -> AgentToken:
    """The valid token for ``raw``; raises AgentAuthenticationError otherwise."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        raise AgentAuthenticationError("missing or malformed agent token")
    token = (
        AgentToken.objects.select_related("machine", "workflow")
        .filter(token_hash=hash_token(raw))
        .order_by()  # the hash is unique: no ORDER BY to build on every agent message
        .first()
    )
    if token is None:
        raise AgentAuthenticationError("unknown agent token")
    if token.revoked_at is not None:
        raise AgentAuthenticationError("agent token revoked")
    now = timezone.now()
    if token.expires_at <= now:
        raise AgentAuthenticationError("agent token expired")
    if token.purpose == Purpose.BOOT and token.spent_at is not None:
        raise AgentAuthenticationError(
            "boot nonce already used: it is good for one hello, which returned a session token"
        )
    if ended := _session_ended(token):
        raise AgentAuthenticationError(ended)
    # Touch at most once a minute: every report would otherwise write the token row.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        AgentToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- boot nonces and sessions ---------------------------------------------------------------


def boot_nonce_issue(
    *, machine: Machine | None, workflow: Workflow | None, mac: str, actor: Actor
) -> tuple[AgentToken, str]:
    """The one-time nonce an iPXE script carries: for ``workflow`` on ``machine``, or for
    discovery (``machine`` waiting to be accepted, or None for an unknown ``mac``)."""
    what = f"workflow #{workflow.pk}" if workflow else "discovery"
    return agent_token_issue(
        machine=machine,
        actor=actor,
        ttl=timedelta(seconds=settings.NETBOOT_TOKEN_TTL_SECONDS),
        purpose=Purpose.BOOT,
        mac=mac,
        workflow=workflow,
        description=f"netboot of {mac} for {what}",
    )


def _unfinished_workflow(machine: Machine) -> Workflow | None:
    return (
        Workflow.objects.filter(machine=machine, state__in=WORKFLOW_UNFINISHED)
        .order_by("created_at")
        .first()
    )


@transaction.atomic
def boot_nonce_exchange(*, nonce: AgentToken, actor: Actor) -> tuple[AgentToken, str]:
    """Spend ``nonce`` (already bound to its machine) and return the session it buys.

    The machine's earlier sessions end here: a machine runs one Hook at a time, and a session
    left over from an earlier boot is exactly what an action container could have read.
    """
    locked = lock(nonce)
    if locked.spent_at is not None:  # two hellos raced with one nonce: the first one won
        raise PermissionDenied("boot nonce already used by another hello")
    machine = locked.machine
    if machine is None:
        raise PermissionDenied("this boot nonce is not bound to a machine")
    workflow = locked.workflow
    if workflow is not None:
        workflow = Workflow.objects.get(pk=workflow.pk)
        if workflow.state not in WORKFLOW_UNFINISHED:
            raise PermissionDenied(
                f"workflow #{workflow.pk} is {workflow.state}: boot the machine again"
            )
    else:
        # Discovery: a rule may have started a workflow at this very hello.
        workflow = _unfinished_workflow(machine)
    now = timezone.now()
    locked.spent_at = now
    locked.save(update_fields=["spent_at"])
    nonce.spent_at = now
    earlier = AgentToken.objects.filter(
        machine=machine, purpose=Purpose.SESSION, revoked_at__isnull=True
    )
    earlier.update(revoked_at=now)
    return agent_token_issue(
        machine=machine,
        actor=actor,
        purpose=Purpose.SESSION,
        mac=locked.mac,
        workflow=workflow,
        description=f"session of boot nonce {locked.prefix}",
    )


def session_bind_workflow(*, token: AgentToken, workflow: Workflow) -> None:
    """A discovery session (no workflow yet) serving its first action: from now on it is
    that workflow's session and ends with it."""
    if token.purpose == Purpose.SESSION and token.workflow_id is None:
        AgentToken.objects.filter(pk=token.pk, workflow__isnull=True).update(workflow=workflow)
        token.workflow = workflow


def _renewal_refusal(token: AgentToken) -> str:
    if token.purpose != Purpose.SESSION:
        return ""
    if token.workflow is not None:
        fresh = Workflow.objects.filter(pk=token.workflow.pk).values("state").first()
        if fresh is None or fresh["state"] not in WORKFLOW_UNFINISHED:
            return f"workflow #{token.workflow_id} has ended: its session cannot be renewed"
        return ""
    machine = token.machine
    waiting = machine is not None and (
        Machine.objects.filter(pk=machine.pk, state=MachineState.DISCOVERED).exists()
        or _unfinished_workflow(machine) is not None
    )
    return "" if waiting else "nothing left to do: this discovery session cannot be renewed"


@transaction.atomic
def agent_token_renew(*, token: AgentToken, actor: Actor) -> tuple[AgentToken, str]:
    """A fresh token with ``token``'s scope; a session only while its workflow runs."""
    if token.purpose == Purpose.BOOT:
        raise PermissionDenied("a boot nonce is not renewed: say hello to exchange it")
    if refusal := _renewal_refusal(token):
        raise PermissionDenied(refusal)
    return agent_token_issue(
        machine=token.machine,
        actor=actor,
        purpose=token.purpose,
        mac=token.mac,
        workflow=token.workflow,
        description=f"renewal of {token.prefix}",
    )
