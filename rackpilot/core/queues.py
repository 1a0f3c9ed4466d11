"""The Celery queues, by kind of work, so that one kind cannot starve another: a long build
never holds up a power command, and a flood of BMC polls never delays the timeout sweep.

``default`` takes what has no route; ``builds`` Hook builds and imports (long, CPU- and
disk-heavy); ``power`` BMC commands and polls (short, network-bound; per site when
CELERY_POWER_QUEUE_PER_SITE is on, so a worker inside a site's BMC network takes that site's
work); ``sweeps`` the periodic timeouts, recovery and pruning.

The default queue's name is CELERY_TASK_DEFAULT_QUEUE. When it is not ``default`` (another
installation, or a test run, on a shared Redis) every other name carries it as a prefix, so
two runs never take each other's tasks.

This module is read by the settings themselves: it imports nothing of Django at load time.
"""

from __future__ import annotations

DEFAULT = "default"
BUILDS = "builds"
POWER = "power"
SWEEPS = "sweeps"
KINDS = (DEFAULT, BUILDS, POWER, SWEEPS)


def queue_name(kind: str, *, default_queue: str | None = None) -> str:
    """The queue of ``kind`` (one of KINDS, or ``power.<site-slug>``) under ``default_queue``
    (CELERY_TASK_DEFAULT_QUEUE when not given)."""
    base = _default_queue() if default_queue is None else default_queue
    if kind == DEFAULT:
        return base
    if base == DEFAULT:
        return kind
    return f"{base}.{kind}"


def power_queue(site_slug: str | None, *, default_queue: str | None = None) -> str:
    """Where a machine's power tasks go: its site's queue when power queues are per site and
    the machine has a site, else the shared power queue."""
    if site_slug and _power_queue_per_site():
        return queue_name(f"{POWER}.{site_slug}", default_queue=default_queue)
    return queue_name(POWER, default_queue=default_queue)


def all_queues(
    *, default_queue: str | None = None, site_slugs: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """The queues a worker that does everything consumes (``celery worker -Q``), plus the
    power queues of ``site_slugs``. A worker inside one site's BMC network takes only
    ``power_queue(slug)`` instead."""
    names = [queue_name(kind, default_queue=default_queue) for kind in KINDS]
    names += [power_queue(slug, default_queue=default_queue) for slug in site_slugs]
    return list(dict.fromkeys(names))


def task_routes(*, default_queue: str) -> dict[str, dict[str, str]]:
    """CELERY_TASK_ROUTES: every task by name to its queue. Per-site power queues are chosen
    by the sender (it knows the machine), which overrides this route."""
    builds = {"queue": queue_name(BUILDS, default_queue=default_queue)}
    power = {"queue": queue_name(POWER, default_queue=default_queue)}
    sweeps = {"queue": queue_name(SWEEPS, default_queue=default_queue)}
    return {
        "builds.run_build": builds,
        "inventory.run_power_job": power,
        "inventory.poll_bmc": power,
        "inventory.poll_power": sweeps,
        "inventory.fail_lost_power_jobs": sweeps,
        "builds.recover_stale": sweeps,
        "workflows.enforce_timeouts": sweeps,
        "workflows.prune_logs": sweeps,
    }


def _default_queue() -> str:
    from django.conf import settings

    return str(settings.CELERY_TASK_DEFAULT_QUEUE)


def _power_queue_per_site() -> bool:
    from django.conf import settings

    return bool(settings.CELERY_POWER_QUEUE_PER_SITE)
