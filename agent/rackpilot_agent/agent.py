"""The agent's main loop: ask for work, run it, report it, wait for more.

For each action: report ``running``, run the container while its log streams to the server,
wait until the server has acknowledged the last line, then report the final state — so the
failure reason the server writes from the log is complete. Between actions the agent waits
for a ``work_available`` push (plus a slow safety re-ask) instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from typing import Any

from rackpilot_agent import hardware
from rackpilot_agent.config import Settings, parse_time
from rackpilot_agent.connection import Connection
from rackpilot_agent.logstream import ActionLog, LogSender, ServerError, utc_timestamp
from rackpilot_agent.runner import (
    ActionSpec,
    DockerRunner,
    Outcome,
    mark_reported,
    reported_directory,
)
from rackpilot_agent.spool import Spool, list_spools, spool_directory
from rackpilot_agent.status import AgentStatus
from rackpilot_agent.tokens import TokenStore

log = logging.getLogger(__name__)

DETACHED_WAIT_ON_EXIT = 30.0
RENEW_RETRY = 60.0
# How often to look again for an expiry that is not known yet (a boot nonce has none).
EXPIRY_RECHECK = 5.0


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        runner: DockerRunner | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens or TokenStore(
            configured=settings.token,
            token_file=settings.token_file,
            state_path=settings.state_dir / "token.json",
            expires_at=settings.token_expires_at,
        )
        self.status = AgentStatus(settings.status_path)
        self.connection = Connection(
            settings,
            self.tokens,
            self._hello,
            on_work=self._on_work,
            on_cancel=self._on_cancel,
            status=self.status,
        )
        self.runner = runner or DockerRunner(settings)
        self.hardware: dict[str, Any] = {}
        self._work = asyncio.Event()
        self._stop = asyncio.Event()
        self._current: tuple[int, int] | None = None
        self._cancel: asyncio.Event | None = None
        self._finished: set[tuple[int, int]] = set()
        # The next action the server gave with the answer to a final report (what next_action
        # would answer), taken instead of asking again.
        self._given_next: dict[str, Any] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._detached_logs: set[ActionLog] = set()

    # --- callbacks from the connection -----------------------------------------------------

    def _hello(self) -> dict[str, Any]:
        return {"worker_id": self.settings.worker_id, "hardware": self.hardware}

    def _on_work(self, frame: dict[str, Any]) -> None:
        log.debug("work available (workflow %s)", frame.get("workflow"))
        self._work.set()

    def _on_cancel(self, action: int, attempt: int) -> None:
        if self._current == (action, attempt) and self._cancel is not None:
            log.warning("the server cancelled action %s (attempt %s)", action, attempt)
            self._cancel.set()

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the agent to stop (signal handler): containers are stopped and removed."""
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped (or, with ``once``, until there is no work); returns an exit code."""
        self.status.starting(self.settings.url, self.settings.worker_id)
        self.hardware = await asyncio.to_thread(hardware.collect, self.settings.hardware_root)
        log.info(
            "rackpilot-agent starting: worker %s, server %s, kernel parameters %s",
            self.settings.worker_id,
            self.settings.websocket_url,
            self.settings.kernel_params,
        )
        connection = asyncio.create_task(self.connection.run(), name="connection")
        main = asyncio.create_task(self._main(), name="main")
        renewer = asyncio.create_task(self._renewer(), name="renewer")
        stopper = asyncio.create_task(self._stop.wait(), name="stop")
        stop_reason: str | None = None
        try:
            done, _ = await asyncio.wait(
                {connection, main, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            if connection in done:
                connection.result()  # AuthenticationFailed / FatalConfigError end the agent
            if main in done:
                return main.result()
            log.info("stopping")
            return 0
        except Exception as exc:
            stop_reason = str(exc)
            raise
        finally:
            for task in (main, renewer, stopper):
                task.cancel()
            await asyncio.gather(main, renewer, stopper, return_exceptions=True)
            await self.runner.shutdown()
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.connection.close()
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)
            self.runner.close()
            self.status.stopped(stop_reason)

    async def _main(self) -> int:
        self._work.clear()
        reply = await self.connection.call({"type": "next_action"})
        await self._flush_leftover_spools(keep=_action_key(reply))
        while True:
            if reply.get("type") == "action":
                spec = ActionSpec.from_payload(reply["action"])
                if (spec.action, spec.attempt) in self._finished:
                    # Already reported; the server has not moved on yet. Do not run it twice.
                    reply = {"type": "no_work"}
                    continue
                await self.run_action(spec)
            elif self.settings.once:
                await self._wait_background()
                log.info("no work left; exiting (--once)")
                return 0
            else:
                self.status.waiting()
                # Pushed work wakes us at once; the re-ask covers a push lost in a reconnect.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.recheck):
                        await self._work.wait()
            self._work.clear()
            given, self._given_next = self._given_next, None
            reply = given or await self.connection.call({"type": "next_action"})

    async def _wait_background(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=DETACHED_WAIT_ON_EXIT)

    async def _renewer(self) -> None:
        """Renew the token 10 minutes before it expires, when its expiry is known."""
        while True:
            delay = self.tokens.seconds_until_renewal()
            if delay is None:
                # Unknown until the server says it: a boot nonce's welcome brings a session
                # with its expiry, and that session needs renewing too.
                await asyncio.sleep(EXPIRY_RECHECK)
                continue
            await asyncio.sleep(delay)
            try:
                reply = await self.connection.call({"type": "renew_token"})
                self.tokens.renewed(str(reply["token"]), parse_time(str(reply["expires_at"])))
            except (ServerError, KeyError, ValueError) as exc:
                log.error("token renewal failed: %s", exc)
                await asyncio.sleep(RENEW_RETRY)
                continue
            log.info("token renewed; it expires at %s", reply["expires_at"])
            await self.connection.reconnect()  # the socket authenticates with the new one

    # --- actions -----------------------------------------------------------------------------

    def _open_log(self, action: int, attempt: int, server_seq: int) -> ActionLog:
        directory = spool_directory(self.settings.spool_dir, action, attempt)
        spool = Spool(directory, cap_bytes=self.settings.spool_cap)
        return ActionLog(spool, action=action, attempt=attempt, server_seq=server_seq)

    async def _flush_leftover_spools(self, keep: tuple[int, int] | None) -> None:
        """Resend what an earlier agent process spooled but never got acknowledged."""
        for action, attempt, _ in list_spools(self.settings.spool_dir):
            action_log = self._open_log(action, attempt, 0)
            pending = action_log.last_seq - action_log.acked_seq
            sender = LogSender(action_log, self.connection.call)
            sender.start()
            try:
                if pending:
                    log.info("resending %d spooled line(s) of action %s", pending, action)
                    await sender.drain()
            finally:
                await sender.stop()
                action_log.close()
            if (action, attempt) != keep or action_log.abandoned:
                action_log.spool.destroy()

    async def _report(self, spec: ActionSpec, state: str, **fields: Any) -> dict[str, Any]:
        message = {"type": "action_state", "action": spec.action, "attempt": spec.attempt}
        message.update(state=state, **{k: v for k, v in fields.items() if v is not None})
        return await self.connection.call(message)

    async def run_action(self, spec: ActionSpec) -> Outcome | None:
        """Run one action end to end; returns its outcome (None when the server refused it)."""
        key = (spec.action, spec.attempt)
        action_log = self._open_log(spec.action, spec.attempt, spec.log_seq)
        sender = LogSender(action_log, self.connection.call)
        sender.start()
        cancel = asyncio.Event()
        self._current, self._cancel = key, cancel
        # The spool outlives this call only when the agent is stopped mid-action: the next
        # agent process resends what the server has not acknowledged.
        keep_spool = True
        resume = spec.state == "running"
        try:
            if not resume:
                try:
                    await self._report(spec, "running", at=utc_timestamp())
                except ServerError as exc:  # cancelled or retried meanwhile
                    log.warning("action %s cannot start: %s", spec.action, exc)
                    keep_spool = False
                    return None
            log.info("running action %s %r (%s)", spec.action, spec.name, spec.image)
            self.status.running(spec)
            outcome = await self.runner.run(spec, action_log, cancel, resume=resume)
            self._finished.add(key)
            self.status.finished(spec, outcome)
            if outcome.state == "cancelled" or cancel.is_set():
                # The action is already final on the server; it wants nothing more about it.
                log.warning("action %s cancelled; container stopped", spec.action)
                keep_spool = False
                return outcome
            if not await sender.drain():
                log.warning("action %s: the server no longer takes its log", spec.action)
            try:
                ack = await self._report(
                    spec,
                    outcome.state,
                    exit_code=outcome.exit_code,
                    message=outcome.message,
                    at=outcome.at,
                    reaction=outcome.reaction,
                )
                log.info("action %s: %s (%s)", spec.action, ack.get("state"), outcome.message)
                # Only an action is taken from the answer: "no work" is asked again, as work
                # pushed between the answer and now would otherwise wait for the re-ask.
                if ack.get("next"):
                    self._given_next = {"type": "action", "action": ack["next"]}
                if outcome.detached is not None:
                    await asyncio.to_thread(mark_reported, spec, self.settings)
            except ServerError as exc:
                log.warning("action %s: final report refused: %s", spec.action, exc)
            if outcome.detached is not None:
                self._keep_streaming(outcome.detached, sender, action_log, spec)
                return outcome  # the background task owns the log from here
            keep_spool = False
            return outcome
        finally:
            self._current = self._cancel = None
            if not self._owned_by_background(action_log):
                await sender.stop()
                action_log.close()
                if not keep_spool:
                    action_log.spool.destroy()

    def _keep_streaming(
        self,
        container_done: asyncio.Task[None],
        sender: LogSender,
        action_log: ActionLog,
        spec: ActionSpec,
    ) -> None:
        """A reboot/kexec action reported success while running; ship the rest of its log."""

        async def follow() -> None:
            try:
                with contextlib.suppress(Exception):
                    await container_done
                await sender.drain()
            finally:
                await sender.stop()
                action_log.close()
                action_log.spool.destroy()
                shutil.rmtree(reported_directory(spec, self.settings), ignore_errors=True)

        task = asyncio.create_task(follow(), name=f"detached-{action_log.action}")
        self._background.add(task)
        self._detached_logs.add(action_log)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda _: self._detached_logs.discard(action_log))

    def _owned_by_background(self, action_log: ActionLog) -> bool:
        return action_log in self._detached_logs


def _action_key(reply: dict[str, Any]) -> tuple[int, int] | None:
    if reply.get("type") != "action":
        return None
    action = reply["action"]
    return int(action["action"]), int(action["attempt"])
