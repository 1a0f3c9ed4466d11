"""Running one build: the builder with callbacks that write through the lifecycle services.

Writes are throttled: progress at most every ``PROGRESS_INTERVAL`` seconds (or on a new step),
log lines in batches, the cancel flag read at most every ``CANCEL_CHECK_INTERVAL`` seconds.
A thread beats the heart while a long step reports nothing.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from builds.models import Build
from builds.services.artifacts import artifacts_discard, artifacts_store
from builds.services.lifecycle import (
    ArtifactFile,
    build_fail,
    build_finish,
    build_heartbeat,
    build_log,
    build_progress,
    build_should_cancel,
    build_start,
)
from builds.states import BuildState
from builds.storage import stores_in_place
from rackpilot.core.actors import Actor
from rackpilot.core.statemachine import TransitionError

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5
LOG_FLUSH_INTERVAL = 0.5
LOG_BATCH_LINES = 500
CANCEL_CHECK_INTERVAL = 1.0


class _Reporter:
    """The builder's callbacks. Called from the task's thread; a lock keeps them safe if the
    builder calls from its own threads too."""

    def __init__(self, build_id: int):
        self.build_id = build_id
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._last_log_flush = 0.0
        self._last_progress = 0.0
        self._step = ""
        self._pending_progress: tuple[int, str] | None = None
        self._last_cancel_check = 0.0
        self._cancel = False

    def progress(self, percent: float, step: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._pending_progress = (int(percent), step)
            if step != self._step or now - self._last_progress >= PROGRESS_INTERVAL:
                self._flush_progress(now)

    def log(self, line: str) -> None:
        with self._lock:
            self._lines.append(line.rstrip("\n"))
            now = time.monotonic()
            if len(self._lines) >= LOG_BATCH_LINES or now - self._last_log_flush >= (
                LOG_FLUSH_INTERVAL
            ):
                self._flush_lines(now)

    def should_cancel(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if not self._cancel and now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL:
                self._last_cancel_check = now
                self._cancel = build_should_cancel(build_id=self.build_id)
            return self._cancel

    def flush(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._flush_lines(now)
            if self._pending_progress is not None:
                self._flush_progress(now)

    def _flush_lines(self, now: float) -> None:
        self._last_log_flush = now
        if self._lines:
            lines, self._lines = self._lines, []
            build_log(build_id=self.build_id, lines=lines)

    def _flush_progress(self, now: float) -> None:
        assert self._pending_progress is not None
        percent, step = self._pending_progress
        self._pending_progress = None
        self._last_progress = now
        self._step = step
        # Log lines first, so the page never shows a step before the lines that led to it.
        self._flush_lines(now)
        if not build_progress(build_id=self.build_id, percent=percent, step=step):
            self._cancel = True  # ended elsewhere (cancelled, recovered): stop building


class _Heartbeat(threading.Thread):
    def __init__(self, build_id: int, interval: float):
        super().__init__(name=f"build-{build_id}-heartbeat", daemon=True)
        self.build_id = build_id
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    build_heartbeat(build_id=self.build_id)
                except Exception:  # a database hiccup must not end the heartbeat for good
                    logger.warning("build %s: heartbeat not stored", self.build_id, exc_info=True)
        finally:
            connection.close()


def build_output_dir(build_id: int) -> Path:
    return Path(settings.BUILD_ARTIFACTS_DIR) / str(build_id)


def build_run(*, build_id: int, task_id: str = "") -> str:
    """Run a queued build to its end. Returns the final state (or the state it was found in
    when there was nothing to run: cancelled before it started, a redelivered task)."""
    actor = Actor.system("builder")
    try:
        build = build_start(build_id=build_id, actor=actor, task_id=task_id)
    except (Build.DoesNotExist, TransitionError) as exc:
        logger.info("build %s not started: %s", build_id, exc)
        state = Build.objects.filter(pk=build_id).values_list("state", flat=True).first()
        return str(state or "missing")
    from builds import builder

    out_dir = build_output_dir(build_id)
    cache_dir = Path(settings.BUILD_CACHE_DIR)
    reporter = _Reporter(build_id)
    heartbeat = _Heartbeat(build_id, settings.BUILD_HEARTBEAT_SECONDS)
    heartbeat.start()
    result: Any = None
    error: str | None = None
    target = BuildState.FAILED
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        result = builder.build(
            build.config,
            arch=build.arch,
            out_dir=out_dir,
            cache_dir=cache_dir,
            progress=reporter.progress,
            log=reporter.log,
            should_cancel=reporter.should_cancel,
            compression=settings.BUILD_COMPRESSION,
            credentials=settings.BUILD_REGISTRY_CREDENTIALS,
            insecure_registries=tuple(settings.BUILD_INSECURE_REGISTRIES),
            mirrors=settings.BUILD_REGISTRY_MIRRORS,
        )
    except builder.BuildCancelled as exc:
        error, target = f"cancelled: {exc}" if str(exc) else "cancelled", BuildState.CANCELLED
    except builder.BuildError as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:  # a bug in the builder must still end the build
        logger.exception("build %s crashed", build_id)
        error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
        reporter.flush()
    return _conclude(build_id, actor, result, error, target, out_dir)


def _conclude(
    build_id: int, actor: Actor, result: Any, error: str | None, target: str, out_dir: Path
) -> str:
    current = Build.objects.filter(pk=build_id).values_list("state", flat=True).first()
    if current != BuildState.RUNNING:
        # Ended elsewhere meanwhile (recovered as stale): keep that verdict, drop the files.
        shutil.rmtree(out_dir, ignore_errors=True)
        return str(current)
    if error is not None:
        shutil.rmtree(out_dir, ignore_errors=True)
        if target == BuildState.FAILED:
            build_log(build_id=build_id, lines=[f"build failed: {error}"])
        return build_fail(build_id=build_id, actor=actor, error=error, target=target).state
    artifacts = [
        ArtifactFile(name=a.name, path=Path(a.path), size=a.size, sha256=a.sha256)
        for a in result.artifacts
    ]
    steps = [{"name": s.name, "seconds": round(float(s.seconds), 3)} for s in result.steps]
    stored: list[ArtifactFile] = []
    try:
        # Uploaded (when the storage is not this folder) before the build is a success: the
        # moment it is, any web process may be asked for its files.
        stored = artifacts_store(build_id=build_id, files=artifacts)
        build = build_finish(
            build_id=build_id,
            actor=actor,
            artifacts=stored,
            steps=steps,
            cache_hits=result.cache_hits,
            downloaded_bytes=result.downloaded_bytes,
        )
    except Exception as exc:  # never leave the build running because its result was odd
        logger.exception("build %s: result not stored", build_id)
        artifacts_discard(files=stored)
        shutil.rmtree(out_dir, ignore_errors=True)
        message = f"could not store the result: {type(exc).__name__}: {exc}"
        return build_fail(build_id=build_id, actor=actor, error=message).state
    if not stores_in_place():
        shutil.rmtree(out_dir, ignore_errors=True)  # a scratch copy: the storage has them
    return build.state
