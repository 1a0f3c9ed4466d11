"""A stand-in for Tinkerbell's tink-agent, built on the project's .proto: what a stock HookOS
machine does against Rackpilot's gRPC server and syslog intake.

It asks for an action in a loop (``FailedPrecondition`` means nothing to do: wait and ask
again; an unavailable server: back off and retry), reports RUNNING, runs the action's container
through the Docker Engine API (podman here, dockerd in HookOS) with its image, command,
environment, volumes and pid namespace, ships each output line by syslog tagged with the
action's name (as dockerd's syslog log driver does), and reports the final state — every
report retried until the server takes it.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import grpc

from tinkerbell.agent_grpc import workflow_pb2 as pb
from tinkerbell.agent_grpc import workflow_pb2_grpc as pb_grpc

RETRY_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 2.0


@dataclass
class StandInAgent:
    agent_id: str
    grpc_address: str
    syslog_port: int
    docker_client: docker.DockerClient
    stop: threading.Event = field(default_factory=threading.Event)
    ran: list[str] = field(default_factory=list)
    reports: int = 0
    unavailable: int = 0

    def run(self, *, actions: int) -> None:
        """Run ``actions`` actions, then return (or when ``stop`` is set)."""
        channel = grpc.insecure_channel(self.grpc_address)
        stub = pb_grpc.WorkflowServiceStub(channel)
        try:
            while len(self.ran) < actions and not self.stop.is_set():
                action = self._next_action(stub)
                if action is not None:
                    self._run_action(stub, action)
        finally:
            channel.close()

    def _next_action(self, stub: pb_grpc.WorkflowServiceStub) -> pb.ActionResponse | None:
        try:
            return stub.GetAction(pb.ActionRequest(agent_id=self.agent_id), timeout=5)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                self.unavailable += 1
            self.stop.wait(RETRY_SECONDS)
            return None

    def _report(self, stub: Any, action: pb.ActionResponse, state: int, message: str = "") -> None:
        request = pb.ActionStatusRequest(
            workflow_id=action.workflow_id,
            agent_id=self.agent_id,
            task_id=action.task_id,
            action_id=action.action_id,
            action_name=action.name,
            action_state=state,
            message=pb.ActionMessage(message=message),
        )
        delay = RETRY_SECONDS
        while not self.stop.is_set():
            try:
                stub.ReportActionStatus(request, timeout=5)
                self.reports += 1
                return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                self.unavailable += 1
                self.stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _run_action(self, stub: Any, action: pb.ActionResponse) -> None:
        self._report(stub, action, pb.ActionStatusRequest.RUNNING)
        syslog = logging.handlers.SysLogHandler(address=("127.0.0.1", self.syslog_port))
        syslog.setFormatter(logging.Formatter(f"{action.name}: %(message)s"))
        try:
            exit_code, last = self._container(action, syslog)
        finally:
            syslog.close()
        self.ran.append(action.name)
        if exit_code == 0:
            self._report(stub, action, pb.ActionStatusRequest.SUCCESS)
        else:
            message = f"exit code {exit_code}: {last}"
            self._report(stub, action, pb.ActionStatusRequest.FAILED, message)

    def _container(self, action: pb.ActionResponse, syslog: logging.Handler) -> tuple[int, str]:
        self.docker_client.images.pull(action.image)
        options: dict[str, Any] = {
            "image": action.image,
            "environment": list(action.environment),
            "volumes": list(action.volumes),
            "privileged": True,
            "detach": True,
        }
        if action.command:
            options["command"] = list(action.command)
        if (action.namespaces.pid or action.pid) == "host":
            options["pid_mode"] = "host"
        container = self.docker_client.containers.create(**options)
        sent: list[str] = []
        lock = threading.Lock()
        abandoned = threading.Event()

        def emit(line: str) -> None:
            with lock:
                if abandoned.is_set():
                    return
                sent.append(line)
                syslog.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

        def follow() -> None:
            buffer = b""
            for chunk in container.logs(stream=True, follow=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    emit(line.decode(errors="replace"))

        try:
            container.start()
            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            exit_code = int(container.wait(timeout=120)["StatusCode"])
            reader.join(timeout=10)
            if reader.is_alive():
                # A follow stream can stay open after the container ended (seen with podman
                # under load): the rest of the output is read whole instead.
                with lock:
                    abandoned.set()
                    rest = container.logs().decode(errors="replace").splitlines()[len(sent) :]
                for line in rest:
                    sent.append(line)
                    syslog.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
        finally:
            container.remove(force=True)
        time.sleep(0.05)  # the datagrams leave before the final report does
        return exit_code, sent[-1] if sent else ""
