"""Queues by kind of work, routes to them, per-site power queues, names kept apart per
installation or test run, and the beat's Redis reachable on the configured broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redbeat.schedulers import ensure_conf, get_redis  # type: ignore[import-untyped]

from inventory.models import PowerJob
from inventory.power import services as power_services
from rackpilot.celery import app as celery_app
from rackpilot.core.queues import all_queues, power_queue, queue_name, task_routes
from tests.factories import BMCFactory, MachineFactory, RackFactory, SiteFactory


def test_an_installation_on_the_default_queue_gets_the_plain_names(settings: Any) -> None:
    assert all_queues(default_queue="default") == ["default", "builds", "power", "sweeps"]
    settings.CELERY_POWER_QUEUE_PER_SITE = True
    assert all_queues(default_queue="default", site_slugs=["ams1"])[-1] == "power.ams1"


def test_another_default_queue_prefixes_every_name_so_runs_never_share_one() -> None:
    one, other = all_queues(default_queue="run-a"), all_queues(default_queue="run-b")
    assert one == ["run-a", "run-a.builds", "run-a.power", "run-a.sweeps"]
    assert not set(one) & set(other)
    assert not set(one) & set(all_queues(default_queue="default"))


def test_every_task_is_routed_by_its_kind() -> None:
    routes = task_routes(default_queue="default")
    assert routes["builds.run_build"] == {"queue": "builds"}
    assert routes["inventory.run_power_job"] == routes["inventory.poll_bmc"] == {"queue": "power"}
    sweeps = {name for name, route in routes.items() if route == {"queue": "sweeps"}}
    assert sweeps == {
        "workflows.enforce_timeouts",
        "workflows.prune_logs",
        "builds.recover_stale",
        "inventory.fail_lost_power_jobs",
        "inventory.poll_power",
    }
    # and the app sends by these routes (under this run's default queue)
    for name in routes:
        routed = celery_app.amqp.router.route({}, name)
        assert routed["queue"].name == celery_app.conf.task_routes[name]["queue"]


def test_every_periodic_task_expires_within_its_interval(settings: Any) -> None:
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["options"]["expires"] == entry["schedule"], name


@pytest.mark.django_db
def test_power_jobs_go_to_their_sites_queue_when_queues_are_per_site(settings: Any) -> None:
    in_site = MachineFactory(hostname="pw-site", rack=RackFactory(site=SiteFactory(slug="ams1")))
    unracked = MachineFactory(hostname="pw-none")
    job_in_site = PowerJob.objects.create(machine=in_site, action=PowerJob.Action.ON)
    job_unracked = PowerJob.objects.create(machine=unracked, action=PowerJob.Action.ON)

    settings.CELERY_POWER_QUEUE_PER_SITE = False
    assert power_services.power_queue_of_job(job_in_site.pk) is None  # the route decides

    settings.CELERY_POWER_QUEUE_PER_SITE = True
    assert power_services.power_queue_of_job(job_in_site.pk) == power_queue("ams1")
    assert power_services.power_queue_of_job(job_unracked.pk) == queue_name("power")
    assert power_queue("ams1", default_queue="default") == "power.ams1"


@pytest.fixture
def own_queue(settings: Any) -> Iterator[str]:
    """A default queue of this test's own on the real broker, emptied afterwards."""
    settings.CELERY_TASK_DEFAULT_QUEUE = f"queues-{uuid.uuid4().hex[:8]}"
    yield settings.CELERY_TASK_DEFAULT_QUEUE
    with celery_app.connection_for_write() as connection:
        client = connection.default_channel.client
        for name in all_queues(site_slugs=["ams2"]):
            client.delete(name)


@pytest.mark.django_db
def test_a_power_job_reaches_its_sites_queue_on_the_broker(own_queue: str, settings: Any) -> None:
    settings.CELERY_POWER_QUEUE_PER_SITE = True
    machine = MachineFactory(hostname="pw-ams", rack=RackFactory(site=SiteFactory(slug="ams2")))
    BMCFactory(machine=machine)
    job = PowerJob.objects.create(machine=machine, action=PowerJob.Action.ON)

    power_services.enqueue_power_job(job.pk)

    with celery_app.connection_for_write() as connection:
        client = connection.default_channel.client
        assert client.llen(f"{own_queue}.power.ams2") == 1
        assert client.llen(f"{own_queue}.power") == 0


def test_beat_reaches_the_brokers_redis_under_a_prefix_of_this_installation(
    settings: Any,
) -> None:
    # the same server the broker uses, over TCP or the embedded default's Unix socket
    assert get_redis(celery_app).ping()
    assert ensure_conf(celery_app).key_prefix == settings.CELERY_REDBEAT_KEY_PREFIX
    assert settings.CELERY_TASK_DEFAULT_QUEUE in settings.CELERY_REDBEAT_KEY_PREFIX
