"""What the agent is doing, kept in a small JSON file for operators at the machine's console.

The agent rewrites the file on every change of its state (``AgentStatus``);
``rackpilot-agent status`` reads it and says in a few lines what the agent is doing
(``show``). Each write goes to a temporary file in the same directory and is renamed over the
old one, so a reader never sees half a document. The file is a convenience: when it cannot be
written the agent says so once and carries on.

The document: ``state`` is the latest change (starting, connecting, connected, waiting,
running, finished, disconnected, stopped); ``connection`` and ``activity`` keep the two sides
of it apart, since the connection can drop and come back while an action runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rackpilot_agent.config import DEFAULT_STATUS_PATH, parse_time, resolve_option
from rackpilot_agent.logstream import utc_timestamp

if TYPE_CHECKING:
    from rackpilot_agent.runner import ActionSpec, Outcome

log = logging.getLogger(__name__)

EXIT_SHOWN = 0
EXIT_NO_STATUS = 1


class AgentStatus:
    """The agent's side: one method per change of state, each rewriting the file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        now = utc_timestamp()
        self.document: dict[str, Any] = {
            "state": "starting",
            "updated_at": now,
            "pid": os.getpid(),
            "started_at": now,
            "server": None,
            "worker_id": None,
            "machine": None,
            "connection": None,
            "connection_since": None,
            "reason": None,
            "retry_at": None,
            "activity": "starting",
            "activity_since": now,
            "action": None,
            "last_action": None,
        }
        self._warned = False

    def starting(self, server: str, worker_id: str) -> None:
        self._change("starting", server=server, worker_id=worker_id)

    def connecting(self) -> None:
        self._connection("connecting")

    def connected(self, machine: Any, worker_id: Any) -> None:
        worker_id = worker_id or self.document["worker_id"]
        self._connection("connected", machine=machine, worker_id=worker_id)

    def disconnected(self, reason: str, retry_in: float) -> None:
        retry_at = datetime.now(UTC) + timedelta(seconds=retry_in)
        self._connection("disconnected", reason=reason, retry_at=_iso(retry_at))

    def waiting(self) -> None:
        self._activity("waiting", action=None)

    def running(self, spec: ActionSpec) -> None:
        action = {
            "workflow": spec.workflow,
            "action": spec.action,
            "attempt": spec.attempt,
            "name": spec.name,
            "image": spec.image,
            "started_at": utc_timestamp(),
        }
        self._activity("running", action=action)

    def finished(self, spec: ActionSpec, outcome: Outcome) -> None:
        current = self.document["action"] or {}
        last = {
            "workflow": spec.workflow,
            "action": spec.action,
            "attempt": spec.attempt,
            "name": spec.name,
            "image": spec.image,
            "started_at": current.get("started_at"),
            "finished_at": utc_timestamp(),
            "state": outcome.state,
            "exit_code": outcome.exit_code,
            "message": outcome.message,
        }
        self._activity("finished", action=None, last_action=last)

    def stopped(self, reason: str | None = None) -> None:
        self.document.update(connection=None, connection_since=None, retry_at=None)
        self._activity("stopped", action=None, reason=reason)

    # --- writing ---------------------------------------------------------------------------

    def _connection(self, connection: str, **changes: Any) -> None:
        # A reason only explains a disconnection; it would mislead once connected again.
        changes.setdefault("reason", None)
        changes.setdefault("retry_at", None)
        self._change(connection, connection=connection, connection_since=utc_timestamp(), **changes)

    def _activity(self, activity: str, **changes: Any) -> None:
        if self.document["activity"] != activity:
            changes["activity_since"] = utc_timestamp()
        self._change(activity, activity=activity, **changes)

    def _change(self, state: str, **changes: Any) -> None:
        self.document.update(changes, state=state, updated_at=utc_timestamp())
        if self.path is None:
            return
        try:
            write_atomically(self.path, json.dumps(self.document, indent=2) + "\n")
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot write the status file %s (%s); the agent carries on, but "
                    "`rackpilot-agent status` will not show what it does",
                    self.path,
                    exc,
                )


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            # It holds no secrets, and an operator need not be root to read it.
            os.fchmod(stream.fileno(), 0o644)
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- `rackpilot-agent status` -------------------------------------------------------------


def show(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """``rackpilot-agent status``: print what the agent is doing; 1 when there is no status."""
    parser = argparse.ArgumentParser(
        prog="rackpilot-agent status",
        description="Show what the rackpilot-agent on this machine is doing.",
    )
    parser.add_argument(
        "--status-file",
        metavar="PATH",
        help=f"the agent's status file [env RACKPILOT_AGENT_STATUS; default {DEFAULT_STATUS_PATH}]",
    )
    args = parser.parse_args(argv)
    path: Path = resolve_option("status_path", args.status_file, environ)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        print(
            f"rackpilot-agent: no status file at {path}: the agent has not started yet "
            "(or it was given another --status-file / RACKPILOT_AGENT_STATUS)",
            file=sys.stderr,
        )
        return EXIT_NO_STATUS
    except (OSError, ValueError) as exc:
        print(f"rackpilot-agent: cannot read the status file {path}: {exc}", file=sys.stderr)
        return EXIT_NO_STATUS
    for line in describe(document, now or datetime.now(UTC)):
        print(line, file=out or sys.stdout)
    return EXIT_SHOWN


def describe(document: Mapping[str, Any], now: datetime) -> list[str]:
    """A few lines for a person: the connection, the work, and how fresh this is."""
    lines = [_describe_connection(document, now)]
    activity = document.get("activity")
    action = document.get("action")
    if activity == "running" and isinstance(action, dict):
        image = action.get("image") or "unknown"
        lines.append(
            f"running {_name_action(action)} for {_ago(action.get('started_at'), now)}, "
            f"image {image}"
        )
    elif activity == "waiting":
        lines.append(f"waiting for work for {_ago(document.get('activity_since'), now)}")
    last = document.get("last_action")
    if activity != "running" and isinstance(last, dict):
        lines.append(_describe_last_action(last, now))
    updated = document.get("updated_at")
    when = f"{updated} ({_ago(updated, now)} ago)" if _parse(updated) else "at an unknown time"
    lines.append(f"last updated {when} by agent pid {document.get('pid', '?')}")
    return lines


def _describe_connection(document: Mapping[str, Any], now: datetime) -> str:
    server = document.get("server") or "the server"
    worker = document.get("worker_id") or "an unknown worker id"
    machine = document.get("machine")
    who = f"{machine} ({worker})" if machine else worker
    connection = document.get("connection")
    if document.get("activity") == "stopped":
        reason = document.get("reason")
        return f"stopped: {reason}" if reason else "stopped"
    if connection == "connected":
        return f"connected to {server} as {who}"
    if connection == "connecting":
        return f"connecting to {server} as {who}"
    if connection == "disconnected":
        reason = document.get("reason") or "no reason given"
        retry_at = _parse(document.get("retry_at"))
        if retry_at is not None and retry_at > now:
            retry = f"retrying in {_duration((retry_at - now).total_seconds())}"
        else:
            retry = "retrying now"
        return f"disconnected from {server} ({reason}); {retry}"
    return f"starting: server {server}, worker id {worker}"


def _describe_last_action(last: Mapping[str, Any], now: datetime) -> str:
    result = str(last.get("state") or "unknown")
    if last.get("exit_code") is not None:
        result += f", exit code {last['exit_code']}"
    if last.get("message"):
        result += f" ({last['message']})"
    return (
        f"last action: {_name_action(last)} ended {_ago(last.get('finished_at'), now)} "
        f"ago: {result}"
    )


def _name_action(action: Mapping[str, Any]) -> str:
    where = f"workflow {action.get('workflow', '?')}, action {action.get('action', '?')}"
    attempt = action.get("attempt")
    if isinstance(attempt, int) and attempt > 1:
        where += f", attempt {attempt}"
    return f"action {action.get('name', '')!r} ({where})"


def _ago(timestamp: Any, now: datetime) -> str:
    moment = _parse(timestamp)
    if moment is None:
        return "an unknown time"
    return _duration((now - moment).total_seconds())


def _parse(timestamp: Any) -> datetime | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return parse_time(timestamp)
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
