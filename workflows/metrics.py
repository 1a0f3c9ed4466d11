"""Workflow figures for Prometheus.

Agents connected and log lines received are counted by the process holding the socket or
storing the lines (summed over processes in multi-process mode); actions running are read from
the database at scrape time.
"""

from __future__ import annotations

from rackpilot.core.metrics import counter, gauge, register_scrape_gauge
from workflows.models import Action
from workflows.states import ActionState

# livesum: the sockets open on the processes alive now; a process that died (and was marked
# dead) takes its sockets with it.
AGENTS_CONNECTED = gauge(
    "rackpilot_agents_connected",
    "Agents with an open WebSocket (/ws/agent/)",
    multiprocess_mode="livesum",
)
LOG_LINES_RECEIVED = counter(
    "rackpilot_log_lines_received_total",
    "Action log lines stored (resent lines already stored are not counted)",
)


def running_action_count() -> int:
    # state is indexed: a count of the few running rows, however long the history.
    return Action.objects.filter(state=ActionState.RUNNING).count()


def register_metrics() -> None:
    register_scrape_gauge(
        "rackpilot_actions_running", "Workflow actions running now", running_action_count
    )
