"""The build lifecycle: queue, start, progress, log, finish, fail, cancel, default, recovery
(of builds whose message or worker was lost).

``build_start`` … ``build_fail`` are the running task's; the others are operators'. Live
updates go to ``build_group(id)`` after the commit. Lock order: builds by ascending id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from builds.groups import build_group
from builds.models import Build, BuildArtifact, BuildLogLine, BuildRecipe
from builds.selectors import servable_names
from builds.states import BUILD_LIFECYCLE, Arch, BuildState
from rackpilot.core.actors import Actor
from rackpilot.core.enqueue import send_task
from rackpilot.core.events import publish_on_commit, record_event

WORKER_LOST = "worker lost: no heartbeat from the build task for {minutes} min"
REQUEUED = "still queued: no worker took it; sent to the workers again"
NEVER_STARTED = "never started: no worker took it, even after it was sent again"


def enqueue_build(build_id: int, task_id: str) -> None:
    """Hand the build to Celery (called after the commit; tests replace it). A broker that
    stays away is logged, and ``builds_requeue_queued`` sends the build again."""
    from builds.tasks import run_build

    send_task(run_build, args=[build_id], task_id=task_id)


def _enqueue_on_commit(build_id: int, task_id: str) -> None:
    transaction.on_commit(lambda: enqueue_build(build_id, task_id))


def _locked(build: Build | int) -> Build:
    pk = build if isinstance(build, int) else build.pk
    return Build.objects.select_for_update(of=("self",)).select_related("recipe").get(pk=pk)


def _set_state(build: Build, target: str) -> str:
    BUILD_LIFECYCLE.check(build.state, target)
    previous = build.state
    build.state = target
    return previous


def state_message(build: Build) -> dict[str, Any]:
    """What browsers are told about a build's state (also the consumer's snapshot)."""
    return {
        "type": "build.state",
        "build": build.pk,
        "state": build.state,
        "progress": build.progress,
        "step": build.current_step,
        "error": build.error,
        "is_default": build.is_default,
        "cancel_requested": build.cancel_requested,
        "started_at": build.started_at.isoformat() if build.started_at else None,
        "finished_at": build.finished_at.isoformat() if build.finished_at else None,
        "log_seq": build.log_seq,
    }


def _publish_state(build: Build) -> None:
    publish_on_commit(build_group(build.pk), state_message(build))


def _record(build: Build, actor: Actor, verb: str, previous: str | None, message: str = "") -> None:
    changes = {"state": [previous, build.state]} if previous != build.state else {}
    record_event(actor=actor, verb=verb, obj=build, changes=changes, message=message)


# --- operators ------------------------------------------------------------------------------


@transaction.atomic
def build_queue(
    *, recipe: BuildRecipe, actor: Actor, arch: str | None = None, enqueue: bool = True
) -> list[Build]:
    """One build per architecture of the recipe (or of ``arch`` alone), queued for Celery;
    ``enqueue=False`` leaves the running to the caller (the demo history records its own)."""
    if arch is not None and arch not in Arch.values:
        raise ValidationError({"arch": f"Unknown architecture {arch!r}."})
    if arch is not None and arch not in recipe.arches:
        raise ValidationError(
            {"arch": f"Recipe {recipe.name} is for {', '.join(recipe.arches)}, not {arch}."}
        )
    arches = [arch] if arch is not None else list(recipe.arches)
    if not arches:
        raise ValidationError({"arch": f"Recipe {recipe.name} names no architecture."})
    builds = []
    for name in arches:
        task_id = str(uuid.uuid4())
        build = Build.objects.create(
            recipe=recipe,
            arch=name,
            config=recipe.config,
            celery_task_id=task_id,
            created_by_id=actor.user_id,
        )
        _record(build, actor, "build.queued", None)
        if enqueue:
            _enqueue_on_commit(build.pk, task_id)
        _publish_state(build)
        builds.append(build)
    return builds


@transaction.atomic
def build_cancel(*, build: Build, actor: Actor) -> Build:
    """Queued: cancelled at once. Running: flagged; the task stops at its next check."""
    build = _locked(build)
    if build.state == BuildState.RUNNING:
        if not build.cancel_requested:
            build.cancel_requested = True
            build.save(update_fields=["cancel_requested"])
            _record(build, actor, "build.cancel_requested", build.state)
            _publish_state(build)
        return build
    previous = _set_state(build, BuildState.CANCELLED)
    build.finished_at = timezone.now()
    build.error = f"cancelled by {actor.name}"
    build.save(update_fields=["state", "finished_at", "error"])
    _record(build, actor, "build.cancelled", previous)
    _publish_state(build)
    return build


def _lock_defaults(arch: str, *, besides: int) -> list[Build]:
    """Lock the arch's current default build(s). Every path that may move the default locks
    these before the build itself, so finishing and operators never deadlock."""
    return list(
        Build.objects.select_for_update()
        .filter(arch=arch, is_default=True)
        .exclude(pk=besides)
        .order_by("pk")
    )


@transaction.atomic
def build_set_default(*, build: Build, actor: Actor) -> Build:
    """Make a successful build the one netboot serves for its arch (the old one steps down)."""
    current = _lock_defaults(build.arch, besides=build.pk)
    build = _locked(build)
    if build.state != BuildState.SUCCESS:
        raise ValidationError(
            {
                "build": f"Build #{build.pk} is {build.state}; only a successful build can be "
                "the default."
            }
        )
    if build.is_default:
        return build
    names = set(build.artifacts.values_list("name", flat=True))
    missing = sorted(servable_names(build.arch) - names)
    if missing:
        raise ValidationError(
            {
                "build": f"Build #{build.pk} has no {' or '.join(missing)}: netboot would have "
                "nothing to serve."
            }
        )
    for old in current:
        old.is_default = False
        old.save(update_fields=["is_default"])
        record_event(
            actor=actor, verb="build.default_unset", obj=old, changes={"is_default": [True, False]}
        )
        _publish_state(old)
    build.is_default = True
    build.save(update_fields=["is_default"])
    record_event(
        actor=actor,
        verb="build.default_set",
        obj=build,
        changes={"is_default": [False, True]},
        message=f"default {build.arch} build" + (f", was #{current[0].pk}" if current else ""),
    )
    _publish_state(build)
    return build


# --- the running task -----------------------------------------------------------------------


@transaction.atomic
def build_start(*, build_id: int, actor: Actor, task_id: str = "") -> Build:
    build = _locked(build_id)
    previous = _set_state(build, BuildState.RUNNING)
    now = timezone.now()
    build.started_at = build.heartbeat_at = now
    if task_id:
        build.celery_task_id = task_id
    build.save(update_fields=["state", "started_at", "heartbeat_at", "celery_task_id"])
    _record(build, actor, "build.started", previous)
    _publish_state(build)
    return build


@transaction.atomic
def build_progress(*, build_id: int, percent: int, step: str) -> bool:
    """Store progress and beat the heart. False when the build is no longer running.
    One conditional UPDATE, no lock: the hot path of a build."""
    percent = max(0, min(100, int(percent)))
    updated = Build.objects.filter(pk=build_id, state=BuildState.RUNNING).update(
        progress=percent, current_step=step[:200], heartbeat_at=timezone.now()
    )
    if updated:
        publish_on_commit(
            build_group(build_id),
            {"type": "build.progress", "build": build_id, "progress": percent, "step": step},
        )
    return bool(updated)


def build_heartbeat(*, build_id: int) -> bool:
    return bool(
        Build.objects.filter(pk=build_id, state=BuildState.RUNNING).update(
            heartbeat_at=timezone.now()
        )
    )


@transaction.atomic
def build_log(*, build_id: int, lines: Sequence[str], at: datetime | None = None) -> int:
    """Append lines (seq numbers follow on); returns the highest seq stored."""
    build = Build.objects.select_for_update().only("pk", "log_seq").get(pk=build_id)
    if not lines:
        return build.log_seq
    at = at or timezone.now()
    first = build.log_seq + 1
    BuildLogLine.objects.bulk_create(
        BuildLogLine(build_id=build_id, seq=first + i, timestamp=at, text=text)
        for i, text in enumerate(lines)
    )
    build.log_seq = first + len(lines) - 1
    Build.objects.filter(pk=build_id).update(log_seq=build.log_seq, heartbeat_at=at)
    publish_on_commit(
        build_group(build_id),
        {
            "type": "build.lines",
            "build": build_id,
            "first_seq": first,
            "lines": [
                {"seq": first + i, "ts": at.isoformat(), "text": text}
                for i, text in enumerate(lines)
            ],
        },
    )
    return build.log_seq


def build_should_cancel(*, build_id: int) -> bool:
    """Read by the builder between steps: an operator asked to stop, or the build was ended
    elsewhere (recovered as stale)."""
    row = Build.objects.filter(pk=build_id).values_list("state", "cancel_requested").first()
    return row is None or row[0] != BuildState.RUNNING or row[1]


@dataclass(frozen=True)
class ArtifactFile:
    name: str
    path: Path
    size: int
    sha256: str
    # Its key in the artifact storage once uploaded (builds.services.artifacts); empty while
    # ``path`` is in BUILD_ARTIFACTS_DIR and that folder is the storage.
    key: str = ""


@transaction.atomic
def build_finish(
    *,
    build_id: int,
    actor: Actor,
    artifacts: Sequence[ArtifactFile],
    steps: Sequence[dict[str, Any]],
    cache_hits: int = 0,
    downloaded_bytes: int = 0,
) -> Build:
    """Success. The first successful build of an arch with a kernel and an initramfs becomes
    its default."""
    arch = Build.objects.values_list("arch", flat=True).get(pk=build_id)
    defaults = _lock_defaults(arch, besides=build_id)
    build = _locked(build_id)
    previous = _set_state(build, BuildState.SUCCESS)
    root = Path(settings.BUILD_ARTIFACTS_DIR).resolve()
    BuildArtifact.objects.bulk_create(
        BuildArtifact(
            build=build,
            name=a.name,
            size=a.size,
            sha256=a.sha256,
            path=a.key or str(Path(a.path).resolve().relative_to(root)),
        )
        for a in artifacts
    )
    build.finished_at = timezone.now()
    build.progress = 100
    build.current_step = ""
    build.steps = list(steps)
    build.cache_hits = cache_hits
    build.downloaded_bytes = downloaded_bytes
    build.save(
        update_fields=[
            "state",
            "finished_at",
            "progress",
            "current_step",
            "steps",
            "cache_hits",
            "downloaded_bytes",
        ]
    )
    _record(build, actor, "build.succeeded", previous)
    if not defaults and servable_names(build.arch) <= {a.name for a in artifacts}:
        try:
            # A savepoint: another build of the arch finishing at the same moment may win
            # the one-default constraint, and then this one simply is not the default.
            with transaction.atomic():
                build = build_set_default(build=build, actor=actor)
        except IntegrityError:
            build.is_default = False
    _publish_state(build)
    return build


@transaction.atomic
def build_fail(
    *, build_id: int, actor: Actor, error: str, target: str = BuildState.FAILED
) -> Build:
    """The build ended without artifacts: failed, or cancelled when it stopped on request."""
    build = _locked(build_id)
    previous = _set_state(build, target)
    build.finished_at = timezone.now()
    build.error = error
    build.save(update_fields=["state", "finished_at", "error"])
    verb = "build.cancelled" if target == BuildState.CANCELLED else "build.failed"
    _record(build, actor, verb, previous, message=error)
    _publish_state(build)
    return build


# --- recovery -------------------------------------------------------------------------------


@transaction.atomic
def builds_requeue_queued(*, now: datetime | None = None) -> tuple[int, int]:
    """Builds still queued after BUILD_QUEUED_REQUEUE_SECONDS may have lost their message (the
    broker was flushed, the enqueue after the commit failed): each is sent once more, under
    the same task id, and failed if it is still queued that long after. Returns (re-sent,
    failed). A copy of a message that was only late is harmless: ``build_start`` lets one
    delivery run the build and the other finds it running."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BUILD_QUEUED_REQUEUE_SECONDS)
    # A build waiting behind others is not lost: while one runs, or one finished within the
    # window, the workers are busy and the queue moves; only an idle queue counts.
    if Build.objects.filter(state=BuildState.RUNNING).exists():
        return 0, 0
    if Build.objects.filter(finished_at__gte=cutoff).exists():
        return 0, 0
    overdue = Build.objects.filter(state=BuildState.QUEUED).filter(
        Q(requeued_at__isnull=True, created_at__lt=cutoff) | Q(requeued_at__lt=cutoff)
    )
    # skip_locked: a build a task is starting (or an operator cancelling) right now is not
    # lost, and a second sweep at the same time leaves this one's rows alone (no double send).
    builds = list(overdue.select_for_update(skip_locked=True).order_by("pk"))
    actor = Actor.system("build-recovery")
    requeued = failed = 0
    for build in builds:
        if build.requeued_at is None:
            build.requeued_at = now
            build.save(update_fields=["requeued_at"])
            _record(build, actor, "build.requeued", build.state, message=REQUEUED)
            _enqueue_on_commit(build.pk, build.celery_task_id)
            requeued += 1
            continue
        previous = _set_state(build, BuildState.FAILED)
        build.finished_at = now
        build.error = NEVER_STARTED
        build.save(update_fields=["state", "finished_at", "error"])
        _record(build, actor, "build.failed", previous, message=build.error)
        _publish_state(build)
        failed += 1
    return requeued, failed


@transaction.atomic
def builds_recover_stale(*, now: datetime | None = None, minutes: int | None = None) -> int:
    """Running builds whose task stopped beating (a killed worker) are marked failed."""
    minutes = minutes if minutes is not None else settings.BUILD_STALE_MINUTES
    cutoff = (now or timezone.now()) - timedelta(minutes=minutes)
    # Only the stale rows are read and locked. skip_locked: a build whose task is beating or
    # ending right now holds its row, and is alive; a second sweep leaves these rows alone.
    stale = (
        Build.objects.filter(state=BuildState.RUNNING, heartbeat_at__lt=cutoff)
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("pk")
    )
    recovered = 0
    for build in list(stale):
        build_fail(
            build_id=build.pk,
            actor=Actor.system("build-recovery"),
            error=WORKER_LOST.format(minutes=minutes),
        )
        recovered += 1
    return recovered
