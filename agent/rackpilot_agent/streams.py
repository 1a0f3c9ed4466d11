"""Readers that move a container's stdout and stderr into an ActionLog as lines, live.

A container the agent starts itself is read through an attach made *before* it starts (as
``docker run`` does): the stream then holds every byte from the first one, in the order the
engine saw it, with stdout and stderr told apart by the multiplexing header. ``logs --follow``
is only used to re-attach to a container an earlier agent process started, because some
engines (podman 4's file logger) drop lines from a followed log when output is fast.

Each reader runs one thread; the Docker SDK blocks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

from docker.models.containers import Container
from docker.utils.socket import frames_iter

from rackpilot_agent.logstream import ActionLog, LineSplitter

log = logging.getLogger(__name__)

STREAM_NAMES = {1: "stdout", 2: "stderr"}


class StreamReader:
    """One thread feeding container output into the log; ``skip`` drops lines already there."""

    def __init__(self, name: str, action_log: ActionLog, skip: dict[str, int] | None = None):
        self.name = name
        self.log = action_log
        self.skip = dict(skip or {})
        self._splitters: dict[str, LineSplitter] = {}
        self._stopped = False
        self.thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def start(self) -> StreamReader:
        self.thread.start()
        return self

    def _emit(self, stream: str, text: str, ends: bool) -> None:
        if self.skip.get(stream, 0) > 0:
            if ends:
                self.skip[stream] -= 1
            return
        self.log.write(stream, text, ends_source_line=ends)

    def feed(self, stream: str, data: bytes) -> None:
        splitter = self._splitters.setdefault(stream, LineSplitter())
        for text, ends in splitter.feed(data):
            self._emit(stream, text, ends)

    def _flush(self) -> None:
        for stream, splitter in self._splitters.items():
            for text, ends in splitter.finish():
                self._emit(stream, text, ends)

    def _guarded(self) -> None:
        try:
            self.read()
        except Exception as exc:
            if not self._stopped:
                log.warning("%s: reading container output failed: %s", self.name, exc)
                self.log.system(f"agent: lost the container's output stream: {exc}")
        finally:
            self._flush()

    def read(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading (the container is gone or the agent is stopping)."""
        self._stopped = True


class AttachReader(StreamReader):
    """Reads a socket attached (stdout + stderr, no replay) before the container started."""

    def __init__(self, name: str, action_log: ActionLog, socket: Any) -> None:
        super().__init__(name, action_log)
        self.socket = socket

    def read(self) -> None:
        for stream_id, data in frames_iter(self.socket, tty=False):
            self.feed(STREAM_NAMES.get(stream_id, "stdout"), data)

    def close(self) -> None:
        super().close()
        with contextlib.suppress(OSError):
            self.socket.close()


class LogsFollower(StreamReader):
    """Follows one stream of a running (or exited) container's log, from its beginning."""

    def __init__(
        self, container: Container, stream: str, action_log: ActionLog, skip: dict[str, int]
    ) -> None:
        super().__init__(f"{container.name}-{stream}", action_log, skip)
        self.container = container
        self.stream = stream
        self._source: Iterable[bytes] | None = None

    def read(self) -> None:
        self._source = self.container.logs(
            stream=True,
            follow=True,
            stdout=self.stream == "stdout",
            stderr=self.stream == "stderr",
        )
        for chunk in self._source:
            self.feed(self.stream, chunk)

    def close(self) -> None:
        super().close()
        source = self._source
        if source is not None and hasattr(source, "close"):
            # Closing a half-dead HTTP stream may raise anything; it is going away regardless.
            with contextlib.suppress(Exception):
                source.close()


def attach_socket(container: Container) -> Any:
    """An attach to stdout and stderr, blocking with no timeout (actions may be silent long)."""
    socket = container.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1})
    disable = getattr(container.client.api, "_disable_socket_timeout", None)
    if disable is not None:
        disable(socket)
    return socket
