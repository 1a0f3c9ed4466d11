"""State reports of many agents applied in one transaction (the sockets' report intake).

``apply_reports`` re-checks the group's tokens in one statement, applies every report in one
transaction (one commit, one INSERT for the group's events) and then reads each finished
action's next action, as ``agent_report_action`` does for one. The reports are applied in the
order of the machines they lock (then workflow, then action), so two groups applied at once by
two web processes take their locks in the same order and cannot deadlock each other.

Refusals are rare (a report repeated after a reconnect is not one: it is answered as a
duplicate) and may come after a report has written something, so the group is not split
around them: if any report of the group is refused or fails, the whole transaction is rolled
back and each report is applied again on its own, exactly as a single report is, and answered
with its own outcome.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rackpilot.core.events import batched_events
from rackpilot.core.sql import PendingSave, run_saves, saves_deferred
from workflows import selectors as workflow_selectors
from workflows.agent_protocol import selectors
from workflows.agent_protocol import services as agent_services
from workflows.agent_protocol.dispatch import (
    REFUSALS,
    ProtocolError,
    action_report,
    action_state_ack,
    as_protocol_error,
    refuse_boot_nonce,
)
from workflows.agent_protocol.services import FINAL_ACTION_STATES
from workflows.agent_protocol.tokens import AgentAuthenticationError, agent_tokens_recheck
from workflows.models import AgentToken

logger = logging.getLogger(__name__)


@dataclass
class ReportItem:
    """One socket's ``action_state`` message: its token (re-checked with the group's) and
    the message as received."""

    token: AgentToken
    raw_token: str
    payload: dict[str, Any]


# What each report is answered with: the acknowledgement, or why it was refused.
Outcome = dict[str, Any] | ProtocolError | AgentAuthenticationError


def apply_reports(items: list[ReportItem]) -> list[Outcome]:
    """Each report's outcome, in the items' order."""
    outcomes: list[Outcome | None] = [None] * len(items)
    reports: dict[int, agent_services.ActionReport] = {}
    refusals = agent_tokens_recheck({item.raw_token for item in items})
    for index, item in enumerate(items):
        if refusal := refusals[item.raw_token]:
            outcomes[index] = AgentAuthenticationError(refusal)
            continue
        try:
            refuse_boot_nonce(item.token, "action_state")
            reports[index] = action_report(item.payload)
        except ProtocolError as exc:
            outcomes[index] = exc
        except ValidationError as exc:
            outcomes[index] = as_protocol_error(exc)
    if len(reports) > 1:
        try:
            results = _apply_together(items, reports)
        except Exception as exc:
            logger.debug("a group of %d reports failed (%s); each alone", len(reports), exc)
        else:
            for index, outcome in _answers(items, reports, results).items():
                outcomes[index] = outcome
            reports = {}
    for index, report in reports.items():  # one alone, or a failed group's
        outcomes[index] = _apply_alone(items[index], report)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


@transaction.atomic
@batched_events()
def _apply_together(
    items: list[ReportItem], reports: dict[int, agent_services.ActionReport]
) -> dict[int, dict[str, Any]]:
    machines = {index: agent_services.machine_of(items[index].token) for index in reports}
    for report in reports.values():
        agent_services.check_report_state(report)
    found = selectors.report_owners(
        [(machines[index].pk, report.action_id) for index, report in reports.items()]
    )
    owners = {
        index: agent_services.check_report_owner(
            machines[index], report, found.get((machines[index].pk, report.action_id))
        )
        for index, report in reports.items()
    }
    workflows, actions = selectors.lock_for_reports(
        machine_ids={owner.workflow_machine_id for owner in owners.values()},
        workflow_ids={owner.workflow_id for owner in owners.values()},
        action_ids={report.action_id for report in reports.values()},
    )
    # Rows read once for the group stand for what each report would read under its locks only
    # while no other report of the group changes them: two reports on one workflow (its
    # workers on two machines) read theirs again, each after the other's changes.
    per_workflow = Counter(owner.workflow_id for owner in owners.values())
    progress = workflow_selectors.actions_progress(
        [
            report.action_id
            for index, report in reports.items()
            if per_workflow[owners[index].workflow_id] == 1
        ]
    )

    def lock_order(index: int) -> tuple[int, int, int]:
        owner = owners[index]
        return owner.workflow_machine_id, owner.workflow_id, reports[index].action_id

    results = {}
    # The actions' UPDATEs of reports read from the group's rows run together at the end: no
    # report reads another's action, and every row is locked already.
    saves: list[PendingSave] = []
    for index in sorted(reports, key=lock_order):
        owner, report = owners[index], reports[index]
        alone = per_workflow[owner.workflow_id] == 1
        action_progress = progress.get(report.action_id)  # read for reports alone only
        with saves_deferred(saves) if action_progress else contextlib.nullcontext():
            results[index] = agent_services.apply_checked_report(
                machine=machines[index],
                report=report,
                owner=owner,
                told_agent=True,
                locked=(workflows[owner.workflow_id], actions[report.action_id]) if alone else None,
                progress=action_progress,
            )
    run_saves(saves)
    return results


def _answers(
    items: list[ReportItem],
    reports: dict[int, agent_services.ActionReport],
    results: dict[int, dict[str, Any]],
) -> dict[int, Outcome]:
    """The acknowledgements; a finished action's carries the agent's next action, read for
    the group's agents at once as ``agent_next_action`` reads it (a discovery session's on
    its own: it is bound to the workflow it gets)."""
    finished = [index for index in results if reports[index].state in FINAL_ACTION_STATES]
    discovery = {i for i in finished if agent_services.is_discovery_session(items[i].token)}
    together = [index for index in finished if index not in discovery]
    nexts = agent_services.agents_next_actions([items[index].token for index in together])
    for index, following in zip(together, nexts, strict=True):
        results[index]["next"] = following
    answers: dict[int, Outcome] = {}
    for index in discovery:
        try:
            results[index]["next"] = agent_services.agent_next_action(token=items[index].token)
        except REFUSALS as exc:
            answers[index] = as_protocol_error(exc)
    for index, result in results.items():
        if index not in answers:
            answers[index] = action_state_ack(result)
    return answers


def _apply_alone(item: ReportItem, report: agent_services.ActionReport) -> Outcome:
    try:
        return action_state_ack(agent_services.agent_report_action(token=item.token, report=report))
    except REFUSALS as exc:
        return as_protocol_error(exc)
