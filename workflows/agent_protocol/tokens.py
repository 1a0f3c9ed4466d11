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
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.services import lock
from rackpilot.core.sql import attnames, hot_cursor, in_values, model_from_row, select_list, table
from workflows.models import AgentToken, Workflow, hash_token
from workflows.states import WORKFLOW_UNFINISHED

TOKEN_PREFIX = "rpa_"
Purpose = AgentToken.Purpose


class AgentAuthenticationError(Exception):
    code = "invalid_token"


def _session_grace() -> timedelta:
    return timedelta(seconds=settings.AGENT_SESSION_GRACE_SECONDS)


def agent_token_new(
    *,
    machine: Machine | None,
    ttl: timedelta | None = None,
    purpose: str = Purpose.AGENT,
    mac: str = "",
    workflow: Workflow | None = None,
    description: str = "",
) -> tuple[AgentToken, str]:
    """A token not saved yet and its raw value (only the hash is ever stored): for a caller
    that writes it with others (netboot's group commit), then records ``token_issued_event``."""
    if purpose in (Purpose.AGENT, Purpose.SESSION) and machine is None:
        raise ValidationError({"machine": "An agent or session token belongs to a machine."})
    if purpose == Purpose.BOOT and machine is None and not mac:
        raise ValidationError({"machine": "A boot nonce belongs to a machine or a MAC."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = ttl or timedelta(seconds=settings.AGENT_TOKEN_TTL_SECONDS)
    token = AgentToken(
        machine=machine,
        purpose=purpose,
        mac=mac,
        workflow=workflow,
        token_hash=hash_token(raw),
        prefix=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        description=description,
        expires_at=timezone.now() + lifetime,
    )
    return token, raw


def token_issued_event(token: AgentToken, actor: Actor) -> None:
    """The timeline's record of ``token``, once it is saved."""
    record_event(
        actor=actor,
        verb="agent_token.issued",
        obj=token,
        machine=token.machine_id,
        changes={"purpose": token.purpose, "workflow": token.workflow_id},
        message=f"expires {token.expires_at.isoformat()}",
    )


# No savepoint of its own: nothing catches its errors to carry on in an outer transaction.
@transaction.atomic(savepoint=False)
def agent_token_save(token: AgentToken, actor: Actor) -> None:
    """A token from ``agent_token_new`` stored and on the timeline."""
    token.save(force_insert=True)
    token_issued_event(token, actor)


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
    token, raw = agent_token_new(
        machine=machine,
        ttl=ttl,
        purpose=purpose,
        mac=mac,
        workflow=workflow,
        description=description,
    )
    agent_token_save(token, actor)
    return token, raw


@transaction.atomic
def agent_token_revoke(*, token: AgentToken, actor: Actor) -> AgentToken:
    token = lock(token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(actor=actor, verb="agent_token.revoked", obj=token, machine=token.machine_id)
    return token


def _refusal(token: AgentToken, workflow: Workflow | None, now: datetime) -> str:
    """Why a found token does not authenticate ("" when it does); ``workflow`` is the token's."""
    if token.revoked_at is not None:
        return "agent token revoked"
    if token.expires_at <= now:
        return "agent token expired"
    if token.purpose == Purpose.BOOT and token.spent_at is not None:
        return "boot nonce already used: it is good for one hello, which returned a session token"
    # A session (or nonce) bound to a workflow ends with it, after a grace that lets the
    # agent's last reports and log lines of the workflow land.
    if workflow is None or workflow.state in WORKFLOW_UNFINISHED:
        return ""
    if (workflow.finished_at or workflow.updated_at) + _session_grace() > now:
        return ""
    return f"workflow #{workflow.pk} is {workflow.state}: the session ended with it"


def _due_for_touch(last_used_at: datetime | None, now: datetime) -> bool:
    # At most once a minute: every report would otherwise write the token row.
    return last_used_at is None or now - last_used_at > timedelta(minutes=1)


def _touch(token_id: int, last_used_at: datetime | None, now: datetime) -> None:
    if _due_for_touch(last_used_at, now):
        AgentToken.objects.filter(pk=token_id).update(last_used_at=now)


def _hash_of(raw: str) -> str:
    if not raw or not raw.startswith(TOKEN_PREFIX):
        raise AgentAuthenticationError("missing or malformed agent token")
    return hash_token(raw)


def agent_token_authenticate(raw: str) -> AgentToken:
    """The valid token for ``raw``; raises AgentAuthenticationError otherwise."""
    token = (
        AgentToken.objects.select_related("machine", "workflow")
        .filter(token_hash=_hash_of(raw))
        .order_by()  # the hash is unique: no ORDER BY to build
        .first()
    )
    if token is None:
        raise AgentAuthenticationError("unknown agent token")
    now = timezone.now()
    refusal = _refusal(token, token.workflow, now)
    if refusal:
        raise AgentAuthenticationError(refusal)
    _touch(token.pk, token.last_used_at, now)
    return token


# What a re-check reads of a token and of its workflow: plain columns, no related models.
_RECHECK_TOKEN = attnames(
    AgentToken,
    only=(
        "id",
        "workflow_id",
        "purpose",
        "token_hash",
        "expires_at",
        "revoked_at",
        "spent_at",
        "last_used_at",
    ),
)
_RECHECK_WORKFLOW = attnames(Workflow, only=("id", "state", "finished_at", "updated_at"))


def agent_token_recheck(raw: str) -> None:
    """``agent_token_authenticate`` for a connection that already holds the token: the same
    refusals (a token revoked, expired or ended with its workflow stops working on open
    connections too), from one row of plain columns. It runs on every agent message, so it is
    written out as SQL: no query to compile, no related models to build."""
    if refusal := agent_tokens_recheck([raw])[raw]:
        raise AgentAuthenticationError(refusal)


def agent_tokens_recheck(raws: Collection[str]) -> dict[str, str]:
    """``agent_token_recheck`` for several tokens in one statement: the refusal for each
    ("" for a token that still authenticates)."""
    refusals: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for raw in raws:
        try:
            hashes[_hash_of(raw)] = raw
        except AgentAuthenticationError as exc:
            refusals[raw] = str(exc)
    if not hashes:
        return refusals
    hashes_in, params = in_values("t.token_hash", hashes)
    sql = f"""
        SELECT {select_list(AgentToken, _RECHECK_TOKEN, "t")},
               {select_list(Workflow, _RECHECK_WORKFLOW, "w")}
        FROM {table(AgentToken)} t LEFT JOIN {table(Workflow)} w ON w.id = t.workflow_id
        WHERE {hashes_in}
    """
    # One socket's message re-checks one token; a group of reports or log batches, any
    # number: one prepared statement either way on PostgreSQL.
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    now = timezone.now()
    touch: list[int] = []
    split = len(_RECHECK_TOKEN)
    for row in rows:
        token = model_from_row(AgentToken, _RECHECK_TOKEN, row[:split])
        workflow = (
            model_from_row(Workflow, _RECHECK_WORKFLOW, row[split:])
            if token.workflow_id is not None
            else None
        )
        refusal = _refusal(token, workflow, now)
        refusals[hashes.pop(token.token_hash)] = refusal
        if not refusal and _due_for_touch(token.last_used_at, now):
            touch.append(token.pk)
    if touch:
        AgentToken.objects.filter(pk__in=touch).update(last_used_at=now)
    for raw in hashes.values():
        refusals[raw] = "unknown agent token"
    return refusals


# --- boot nonces and sessions ---------------------------------------------------------------


def boot_nonce_new(
    *, machine: Machine | None, workflow: Workflow | None, mac: str
) -> tuple[AgentToken, str]:
    """The one-time nonce an iPXE script carries, not saved yet: for ``workflow`` on
    ``machine``, or for discovery (``machine`` waiting to be accepted, or None for an unknown
    ``mac``)."""
    what = f"workflow #{workflow.pk}" if workflow else "discovery"
    return agent_token_new(
        machine=machine,
        ttl=timedelta(seconds=settings.NETBOOT_TOKEN_TTL_SECONDS),
        purpose=Purpose.BOOT,
        mac=mac,
        workflow=workflow,
        description=f"netboot of {mac} for {what}",
    )


def boot_nonce_issue(
    *, machine: Machine | None, workflow: Workflow | None, mac: str, actor: Actor
) -> tuple[AgentToken, str]:
    """``boot_nonce_new``, saved and on the timeline."""
    token, raw = boot_nonce_new(machine=machine, workflow=workflow, mac=mac)
    agent_token_save(token, actor)
    return token, raw


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
