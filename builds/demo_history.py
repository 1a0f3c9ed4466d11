"""Demo builds of the shipped Hook recipes, so the Builds pages have something to show on a first
``make run``.

A real build needs the Hook's kernel and base images in a registry, which ``build_hook_image``
makes from Debian packages (minutes, and a Debian mirror): more than a first start should do. So
the demo records builds the way the worker would — queued, started, progress, log lines in the
builder's own words, finished — through the lifecycle services, then moves them back in time:
the first build of the x86_64 recipe failed because no registry was running yet (as a
newcomer's first build does), the next two succeeded (the second from the blob cache), and an
aarch64 build was cancelled while it pulled. The succeeded builds wrote no files: they carry
no artifacts, so neither becomes the default and netboot serves nothing from them. Everything
is recorded by the "demo" actor; ``bootstrap --no-demo`` loads none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from builds.hook.recipes import shipped_recipe_name
from builds.models import Build, BuildLogLine, BuildRecipe
from builds.services import lifecycle
from builds.states import BuildState
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event

DEMO = Actor.system("demo")
KERNEL = "127.0.0.1:5000/rackpilot/hook-kernel:{arch}"
BASE = "127.0.0.1:5000/rackpilot/hook-base:{arch}"
KERNEL_BYTES = 61_472_316
BASE_BYTES = 187_303_921
DEMO_NOTE = (
    "demo: recorded by bootstrap, no files were written; build the Hook with "
    "`python manage.py build_hook_image` (README, Hook builds)"
)


@dataclass(frozen=True)
class DemoBuild:
    arch: str
    days_ago: int
    hour: float
    outcome: str
    # (step, seconds, log lines written during the step)
    steps: tuple[tuple[str, float, tuple[str, ...]], ...]
    error: str = ""
    cache_hits: int = 0
    downloaded: int = 0


def _refused(arch: str) -> str:
    image = KERNEL.format(arch=arch)
    return (
        f"{image}: manifest not found (127.0.0.1:5000: ConnectionError: "
        "HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded with url: "
        f"/v2/rackpilot/hook-kernel/manifests/{arch} (Connection refused))"
    )


def _pulled(arch: str, *, cached: bool) -> tuple[str, ...]:
    kernel, base = (0, 0) if cached else (KERNEL_BYTES, BASE_BYTES)
    return (
        f"pulled {KERNEL.format(arch=arch)} (1 layers, {kernel} bytes fetched)",
        f"pulled {BASE.format(arch=arch)} (1 layers, {base} bytes fetched)",
    )


def _succeeded(arch: str, days_ago: int, hour: float, *, cached: bool) -> DemoBuild:
    downloaded = 0 if cached else KERNEL_BYTES + BASE_BYTES
    hits = 4 if cached else 0
    return DemoBuild(
        arch=arch,
        days_ago=days_ago,
        hour=hour,
        outcome=BuildState.SUCCESS,
        steps=(
            ("pull images", 1.2 if cached else 48.7, _pulled(arch, cached=cached)),
            ("extract kernel", 1.9, ()),
            ("write initramfs", 31.4, ("init: 21876 entries at /",)),
            (
                "checksums",
                0.8,
                (f"done: {downloaded} bytes downloaded, {hits} blobs from cache", DEMO_NOTE),
            ),
        ),
        cache_hits=hits,
        downloaded=downloaded,
    )


def demo_builds() -> list[DemoBuild]:
    return [
        DemoBuild(
            arch="x86_64",
            days_ago=12,
            hour=9.2,
            outcome=BuildState.FAILED,
            steps=(("pull images", 0.1, ()),),
            error=_refused("x86_64"),
        ),
        _succeeded("x86_64", 12, 9.7, cached=False),
        DemoBuild(
            arch="aarch64",
            days_ago=9,
            hour=14.1,
            outcome=BuildState.CANCELLED,
            steps=(("pull images", 22.5, (_pulled("aarch64", cached=False)[0],)),),
            error="cancelled: the build was cancelled",
        ),
        _succeeded("x86_64", 3, 16.4, cached=True),
    ]


def _record(recipe: BuildRecipe, plan: DemoBuild, queued: datetime) -> Build:
    first_event_id = Event.objects.aggregate(last=Max("id"))["last"] or 0
    (build,) = lifecycle.build_queue(recipe=recipe, actor=DEMO, arch=plan.arch, enqueue=False)
    lifecycle.build_start(build_id=build.pk, actor=DEMO)
    started = queued + timedelta(seconds=2.5)
    moment = started
    for number, (step, seconds, lines) in enumerate(plan.steps):
        lifecycle.build_progress(
            build_id=build.pk, percent=5 + 90 * number // len(plan.steps), step=step
        )
        lifecycle.build_log(build_id=build.pk, lines=[f"==> {step}"], at=moment)
        moment += timedelta(seconds=seconds)
        if lines:
            lifecycle.build_log(build_id=build.pk, lines=list(lines), at=moment)
    if plan.outcome == BuildState.SUCCESS:
        lifecycle.build_finish(
            build_id=build.pk,
            actor=DEMO,
            artifacts=[],
            steps=[{"name": step, "seconds": seconds} for step, seconds, _ in plan.steps],
            cache_hits=plan.cache_hits,
            downloaded_bytes=plan.downloaded,
        )
    else:
        if plan.outcome == BuildState.CANCELLED:
            lifecycle.build_cancel(build=build, actor=DEMO)
        if plan.outcome == BuildState.FAILED:
            lifecycle.build_log(build_id=build.pk, lines=[f"build failed: {plan.error}"], at=moment)
        lifecycle.build_fail(build_id=build.pk, actor=DEMO, error=plan.error, target=plan.outcome)
    Build.objects.filter(pk=build.pk).update(
        created_at=queued, started_at=started, heartbeat_at=moment, finished_at=moment
    )
    # The log's timestamps follow the steps already; the last lines land at the end.
    BuildLogLine.objects.filter(build=build, timestamp__gt=moment).update(timestamp=moment)
    at_verb = {"build.queued": queued, "build.started": started}
    for event_id, verb in Event.objects.filter(pk__gt=first_event_id).values_list("id", "verb"):
        Event.objects.filter(pk=event_id).update(timestamp=at_verb.get(verb, moment))
    return build


def load_demo_builds(actor: Actor, demo: bool, *, now: datetime | None = None) -> str | None:
    """bootstrap's step: the demo builds, on a database that has no build yet."""
    if not demo or Build.objects.exists():
        return None
    recipes = {
        recipe.name: recipe
        for recipe in BuildRecipe.objects.filter(
            name__in=[shipped_recipe_name(arch) for arch in ("x86_64", "aarch64")]
        )
    }
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    recorded = 0
    with transaction.atomic():
        for plan in demo_builds():
            recipe = recipes.get(shipped_recipe_name(plan.arch))
            if recipe is None:
                continue
            queued = today - timedelta(days=plan.days_ago, hours=-plan.hour)
            _record(recipe, plan, queued)
            recorded += 1
    if not recorded:
        return None
    return (
        f"Recorded {recorded} demo builds of the shipped Hook recipes (log and steps only, no "
        "files); build a real Hook with `python manage.py build_hook_image` (README, Hook builds)."
    )
