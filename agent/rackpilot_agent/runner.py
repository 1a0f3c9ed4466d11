"""Runs one action as a container through the Docker Engine API, as Tinkerbell's worker does.

Pull (retried, falling back to a local copy of the image), create a privileged container with
the action's binds, environment, command and pid mode, start it, stream stdout and stderr line
by line while it runs, enforce the timeout (SIGTERM, then SIGKILL), run the ``on-timeout`` /
``on-failure`` reaction in a second container, and always remove the containers.

The Docker SDK blocks, so every call runs in a worker thread; the two log streams are each
read by their own thread and written straight into the action's ``ActionLog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.utils import parse_repository_tag

from rackpilot_agent.config import Settings, parse_bool
from rackpilot_agent.logstream import ActionLog, utc_timestamp
from rackpilot_agent.streams import AttachReader, LogsFollower, StreamReader, attach_socket

log = logging.getLogger(__name__)

# `docker run` itself exits 125 when the container could not be run at all; the protocol needs
# an exit code for `failed`, and this one does not collide with what the action's program says.
AGENT_FAILURE_EXIT = 125
DEFAULT_TIMEOUT = 3600  # Tinkerbell's worker runs an action without a timeout for at most 1 h
REPORT_ON_START_ENV = "RACKPILOT_REPORT_ON_START"
REPORT_ON_START_WORDS = ("kexec", "reboot")
# A reboot/kexec action finds here (a bind of a host folder) the file the agent writes once the
# server has acknowledged its success: it can take the machine down without racing the report.
REPORTED_FILE_ENV = "RACKPILOT_REPORTED_FILE"
REPORTED_MOUNT = "/run/rackpilot-agent"
REPORTED_NAME = "reported"
LOG_DRAIN_SECONDS = 30.0
DockerError = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass(frozen=True)
class ActionSpec:
    """An action as the server hands it out in the ``action`` message."""

    workflow: int
    action: int
    attempt: int
    name: str
    image: str
    task: str = ""
    worker: str = ""
    command: list[str] = field(default_factory=list)
    timeout: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    pid: str = ""
    on_failure: list[str] = field(default_factory=list)
    on_timeout: list[str] = field(default_factory=list)
    state: str = "pending"
    log_seq: int = 0

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ActionSpec:
        return cls(
            workflow=int(data.get("workflow") or 0),
            action=int(data["action"]),
            attempt=int(data["attempt"]),
            name=str(data.get("name", "")),
            image=str(data["image"]),
            task=str(data.get("task", "")),
            worker=str(data.get("worker", "")),
            command=[str(part) for part in data.get("command") or []],
            timeout=int(data.get("timeout") or 0),
            environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
            volumes=[str(volume) for volume in data.get("volumes") or []],
            pid=str(data.get("pid") or ""),
            on_failure=[str(part) for part in data.get("on_failure") or []],
            on_timeout=[str(part) for part in data.get("on_timeout") or []],
            state=str(data.get("state", "pending")),
            log_seq=int(data.get("log_seq") or 0),
        )

    @property
    def effective_timeout(self) -> int:
        return self.timeout if self.timeout > 0 else DEFAULT_TIMEOUT


@dataclass
class Outcome:
    state: str  # success | failed | timeout | cancelled
    exit_code: int | None = None
    message: str = ""
    reaction: dict[str, Any] | None = None
    at: str = field(default_factory=utc_timestamp)
    # Reboot/kexec actions: reported a success while the container still runs.
    detached: asyncio.Task[None] | None = None


def reports_on_start(spec: ActionSpec) -> bool:
    """Does this action take the machine down (so success must be reported before it ends)?

    Tinkerbell wraps such actions in ``waitdaemon``; here the rule is: the image's repository
    name (without registry and tag) contains ``kexec`` or ``reboot``, or the action sets
    ``RACKPILOT_REPORT_ON_START=true``.
    """
    flag = spec.environment.get(REPORT_ON_START_ENV, "")
    try:
        if flag and parse_bool(flag):
            return True
    except ValueError:
        pass
    repository, _ = parse_repository_tag(spec.image)
    name = repository.rsplit("/", 1)[-1].lower()
    return any(word in name for word in REPORT_ON_START_WORDS)


def reported_directory(spec: ActionSpec, settings: Settings) -> Path:
    """The host folder bound into a reboot/kexec action for the agent's "reported" file."""
    return settings.state_dir / "reported" / f"{spec.action}-{spec.attempt}"


def mark_reported(spec: ActionSpec, settings: Settings) -> None:
    """Tell a running reboot/kexec action that the server has its success."""
    directory = reported_directory(spec, settings)
    staged = directory / f".{REPORTED_NAME}.tmp"
    staged.write_text(f"action {spec.action} attempt {spec.attempt}\n")
    staged.replace(directory / REPORTED_NAME)


def container_name(spec: ActionSpec, role: str = "action") -> str:
    suffix = "" if role == "action" else f"-{role}"
    return f"rackpilot-{spec.action}-{spec.attempt}{suffix}"


def container_config(
    spec: ActionSpec, settings: Settings, *, command: list[str], role: str = "action"
) -> dict[str, Any]:
    """Keyword arguments for ``containers.create``."""
    config: dict[str, Any] = {
        "image": spec.image,
        "name": container_name(spec, role),
        "privileged": True,
        "environment": [f"{key}={value}" for key, value in spec.environment.items()],
        "volumes": list(spec.volumes),  # "host:container[:ro]", Docker's own bind syntax
        "network_mode": settings.network_mode,
        "labels": {
            "rackpilot.workflow": str(spec.workflow),
            "rackpilot.action": str(spec.action),
            "rackpilot.attempt": str(spec.attempt),
            "rackpilot.role": role,
        },
        # No TTY: a TTY would merge stderr into stdout, and the log keeps them apart.
        "tty": False,
        "detach": True,
    }
    if command:
        config["command"] = list(command)
    if spec.pid == "host":
        config["pid_mode"] = "host"
    if role == "action" and reports_on_start(spec):
        config["volumes"].append(f"{reported_directory(spec, settings)}:{REPORTED_MOUNT}")
        config["environment"].append(f"{REPORTED_FILE_ENV}={REPORTED_MOUNT}/{REPORTED_NAME}")
    return config


def _started_at(container: Container) -> datetime | None:
    text = container.attrs.get("State", {}).get("StartedAt") or ""
    try:
        started = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return started if started.year > 1 else None  # "0001-01-01T00:00:00Z": never started


class DockerRunner:
    def __init__(self, settings: Settings, client: docker.DockerClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._containers: dict[str, Container] = {}  # running under this agent, by id

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            # Long API timeout for pulls and stops; log streams disable it themselves.
            self._client = docker.DockerClient(base_url=self.settings.docker_host, timeout=300)
        return self._client

    # --- images ------------------------------------------------------------------------------

    def _auth_for(self, image: str) -> dict[str, str] | None:
        settings = self.settings
        if not settings.registry or not settings.registry_username:
            return None
        if not image.startswith(settings.registry.rstrip("/") + "/"):
            return None  # never hand the credentials to another registry
        return {
            "username": settings.registry_username,
            "password": settings.registry_password or "",
        }

    def _pull_once(self, image: str) -> None:
        repository, tag = parse_repository_tag(image)
        auth = self._auth_for(image)
        events = self.client.api.pull(
            repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth
        )
        for event in events:
            if isinstance(event, dict) and event.get("error"):
                raise docker.errors.APIError(str(event["error"]))

    async def pull(self, image: str, action_log: ActionLog, cancel: asyncio.Event) -> str | None:
        """Pull ``image``; None when it is ready to run, else why it is not."""
        attempts = self.settings.pull_attempts
        error: Exception | None = None
        for attempt in range(1, attempts + 1):
            action_log.system(f"agent: pulling {image}")
            try:
                await asyncio.to_thread(self._pull_once, image)
                action_log.system(f"agent: pulled {image}")
                return None
            except DockerError as exc:
                error = exc
                action_log.system(f"agent: pull {attempt}/{attempts} of {image} failed: {exc}")
            if attempt < attempts and await _wait(cancel, 2.0 ** (attempt - 1)):
                return "cancelled"
        try:
            await asyncio.to_thread(self.client.images.get, image)
        except DockerError:
            return f"cannot pull {image}: {error}"
        # Hook embeds some images; an air-gapped machine can still run them.
        action_log.system(f"agent: using the local copy of {image}")
        return None

    # --- containers ---------------------------------------------------------------------------

    def find(self, spec: ActionSpec) -> Container | None:
        """The container an earlier agent process started for this action attempt."""
        labels = [f"rackpilot.action={spec.action}", f"rackpilot.attempt={spec.attempt}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        for container in found:
            if container.labels.get("rackpilot.role") == "action":
                return container
        return None

    def _remove(self, container: Container) -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except DockerError as exc:
            log.warning("could not remove container %s: %s", container.name, exc)
        self._containers.pop(container.id or "", None)

    def _remove_named(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._remove(self.client.containers.get(name))

    def _create_and_start(self, config: dict[str, Any]) -> tuple[Container, Any]:
        """Create, attach to its output, then start: the attach sees the very first byte."""
        self._remove_named(config["name"])  # left over from a run that was interrupted
        container = self.client.containers.create(**config)
        self._containers[container.id or ""] = container
        socket = attach_socket(container)
        try:
            container.start()
            container.reload()
        except BaseException:
            socket.close()
            raise
        return container, socket

    async def _start(
        self, config: dict[str, Any], action_log: ActionLog
    ) -> tuple[Container, list[StreamReader]]:
        try:
            container, socket = await asyncio.to_thread(self._create_and_start, config)
        except BaseException:
            await asyncio.to_thread(self._remove_named, config["name"])
            raise
        return container, [AttachReader(config["name"], action_log, socket).start()]

    def _stop(self, container: Container, grace: int) -> None:
        try:
            container.stop(timeout=grace)  # SIGTERM, then SIGKILL after `grace` seconds
        except docker.errors.NotFound:
            pass
        except DockerError as exc:
            log.warning("stopping %s failed (%s); killing it", container.name, exc)
            with contextlib.suppress(*DockerError):
                container.kill()

    async def run(
        self, spec: ActionSpec, action_log: ActionLog, cancel: asyncio.Event, *, resume: bool
    ) -> Outcome:
        """Run (or, after an agent restart, re-attach to) the action; never raises for it."""
        try:
            return await self._run(spec, action_log, cancel, resume=resume)
        except Exception as exc:
            # Whatever went wrong belongs to this action: report it, keep the agent alive.
            log.exception("action %s: the agent failed to run it", spec.action)
            action_log.system(f"agent: failed to run the action: {exc!r}")
            return Outcome("failed", AGENT_FAILURE_EXIT, f"agent error: {exc}")

    async def _run(
        self, spec: ActionSpec, action_log: ActionLog, cancel: asyncio.Event, *, resume: bool
    ) -> Outcome:
        container = None
        if resume:
            container = await self._reattachable(spec, action_log)
        if container is not None:
            # Skip the lines of the re-attached container that the log already has.
            skip = action_log.source_lines
            readers: list[StreamReader] = [
                LogsFollower(container, stream, action_log, skip).start()
                for stream in ("stdout", "stderr")
            ]
        else:
            action_log.reset_source_lines()  # a new container: its output starts from the top
            failure = await self.pull(spec.image, action_log, cancel)
            if failure == "cancelled" or cancel.is_set():
                return Outcome("cancelled")
            if failure:
                return Outcome("failed", AGENT_FAILURE_EXIT, failure)
            config = container_config(spec, self.settings, command=spec.command)
            if reports_on_start(spec):
                reported_directory(spec, self.settings).mkdir(parents=True, exist_ok=True)
            try:
                container, readers = await self._start(config, action_log)
            except DockerError as exc:
                return Outcome("failed", AGENT_FAILURE_EXIT, f"cannot start the container: {exc}")
        return await self._supervise(spec, container, action_log, cancel, readers)

    async def _reattachable(self, spec: ActionSpec, action_log: ActionLog) -> Container | None:
        try:
            container = await asyncio.to_thread(self.find, spec)
        except DockerError as exc:
            log.warning("cannot look for the container of action %s: %s", spec.action, exc)
            return None
        if container is None:
            action_log.system("agent: restarted mid-action; running the action again")
            return None
        if container.status in ("running", "exited") and _started_at(container):
            self._containers[container.id or ""] = container
            action_log.system(f"agent: restarted mid-action; re-attached to {container.name}")
            return container
        await asyncio.to_thread(self._remove, container)
        action_log.system("agent: restarted mid-action; running the action again")
        return None

    async def _supervise(
        self,
        spec: ActionSpec,
        container: Container,
        action_log: ActionLog,
        cancel: asyncio.Event,
        readers: list[StreamReader],
        *,
        role: str = "action",
    ) -> Outcome:
        started = _started_at(container) or datetime.now(UTC)
        elapsed = (datetime.now(UTC) - started).total_seconds()
        remaining = max(0.0, spec.effective_timeout - elapsed)
        waiter = asyncio.ensure_future(asyncio.to_thread(container.wait))
        if role == "action" and reports_on_start(spec):
            # Give it a moment: an action that fails straight away is reported as failed.
            done, _ = await asyncio.wait({waiter}, timeout=self.settings.detach_grace)
            if not done:
                action_log.system("agent: reboot/kexec action is running; reporting success")
                task = asyncio.ensure_future(self._finish_detached(container, waiter, readers))
                return Outcome("success", 0, "reported when started", detached=task)
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, cancelled}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cancelled.cancel()
        if waiter not in done:
            timed_out = cancelled not in done
            if timed_out:
                action_log.system(
                    f"agent: timed out after {spec.effective_timeout} s; stopping the container"
                )
            await asyncio.to_thread(self._stop, container, self.settings.stop_grace)
            await self._wait_quietly(waiter)
            await self._finish(container, readers)
            if not timed_out:
                return Outcome("cancelled")
            outcome = Outcome("timeout", None, f"timed out after {spec.effective_timeout} s")
        else:
            outcome = await self._exit_outcome(container, waiter)
            await self._finish(container, readers)
        if role == "action" and outcome.state in ("failed", "timeout"):
            outcome.reaction = await self._react(spec, outcome.state, action_log, cancel)
            if cancel.is_set():
                return Outcome("cancelled")
        return outcome

    async def _exit_outcome(self, container: Container, waiter: asyncio.Future[Any]) -> Outcome:
        try:
            result = await waiter
            code = int(result.get("StatusCode", AGENT_FAILURE_EXIT))
        except DockerError as exc:
            return Outcome("failed", AGENT_FAILURE_EXIT, f"lost track of the container: {exc}")
        at = utc_timestamp()
        if code == 0:
            return Outcome("success", 0, "", at=at)
        message = f"exited with code {code}"
        try:
            await asyncio.to_thread(container.reload)
            if container.attrs.get("State", {}).get("OOMKilled"):
                message += " (killed: out of memory)"
        except DockerError:
            pass
        return Outcome("failed", code, message, at=at)

    async def _wait_quietly(self, waiter: asyncio.Future[Any]) -> None:
        try:
            async with asyncio.timeout(self.settings.stop_grace + 30):
                await asyncio.shield(waiter)
        except (TimeoutError, *DockerError):
            pass

    async def _finish(self, container: Container, readers: list[StreamReader]) -> None:
        """Let the log streams catch up with the exited container, then remove it."""
        for reader in readers:
            await asyncio.to_thread(reader.thread.join, LOG_DRAIN_SECONDS)
            reader.close()
        await asyncio.to_thread(self._remove, container)

    async def _finish_detached(
        self, container: Container, waiter: asyncio.Future[Any], readers: list[StreamReader]
    ) -> None:
        try:
            await waiter  # until the machine goes down, or the agent stops the container
        except DockerError:
            pass
        finally:
            await self._finish(container, readers)

    async def _react(
        self, spec: ActionSpec, state: str, action_log: ActionLog, cancel: asyncio.Event
    ) -> dict[str, Any] | None:
        # As Tinkerbell's worker: on-timeout for a timeout when there is one, else on-failure.
        if state == "timeout" and spec.on_timeout:
            role, command = "on-timeout", spec.on_timeout
        elif spec.on_failure:
            role, command = "on-failure", spec.on_failure
        else:
            return None
        action_log.system(f"agent: running {role}: {' '.join(command)}")
        config = container_config(spec, self.settings, command=command, role=role)
        try:
            container, readers = await self._start(config, action_log)
        except DockerError as exc:
            return {"command": role, "exit_code": AGENT_FAILURE_EXIT, "message": str(exc)}
        outcome = await self._supervise(spec, container, action_log, cancel, readers, role=role)
        return {"command": role, "exit_code": outcome.exit_code, "message": outcome.message}

    async def shutdown(self) -> None:
        """Stop and remove every container this agent started (agent shutdown)."""
        for container in list(self._containers.values()):
            await asyncio.to_thread(self._stop, container, self.settings.stop_grace)
            await asyncio.to_thread(self._remove, container)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``event`` is set first; returns whether it was."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
