"""A task handed to Celery after the commit reaches the broker across a broker restart, and a
broker that stays away is logged, never raised into the request that committed.

A real Redis server of the test's own is stopped and started again while the send runs; the
Celery app talks to it through kombu's real Redis transport."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from django.db import transaction

from rackpilot.core.enqueue import enqueue_on_commit, send_task
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture

QUEUE = "enqueue-retry"


@pytest.fixture
def broker_app(redis_server: RedisServer) -> Iterator[Celery]:  # noqa: F811
    app = Celery("enqueue-retry", broker=redis_server.url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = True
    yield app
    app.close()


def ping_task(app: Celery) -> Any:
    def ping(*args: object) -> None:
        """Never run: the test reads the message off the broker."""

    return app.task(name="tests.ping")(ping)


def queued_tasks(server: RedisServer) -> list[dict[str, Any]]:
    return [json.loads(raw)["headers"] for raw in server.client().lrange(QUEUE, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_while_the_broker_restarts_arrives_after_the_restart(
    broker_app: Celery,
    redis_server: RedisServer,  # noqa: F811
    settings: Any,
) -> None:
    settings.CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 20,
        "interval_start": 0,
        "interval_step": 0.25,
        "interval_max": 0.5,
    }
    ping = ping_task(broker_app)
    # given a sender that has already talked to the broker (its connection is pooled)
    assert send_task(ping, task_id="before", queue=QUEUE)
    assert [headers["id"] for headers in queued_tasks(redis_server)] == ["before"]
    # when the broker goes away, and comes back while the committed request is sending
    redis_server.stop()
    restarted = threading.Timer(1.5, redis_server.start)
    restarted.start()
    started = time.monotonic()
    try:
        with transaction.atomic():
            enqueue_on_commit(ping, task_id="during", queue=QUEUE)
    finally:
        restarted.join()
    # then the send waited for the broker and the task is there (the restart lost the other)
    assert time.monotonic() - started >= 1.0
    tasks = queued_tasks(redis_server)
    assert [(headers["id"], headers["task"]) for headers in tasks] == [("during", "tests.ping")]


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_stays_away_is_logged_and_the_commit_stands(
    broker_app: Celery,
    redis_server: RedisServer,  # noqa: F811
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from inventory.models import Site

    settings.CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.1,
        "interval_max": 0.1,
    }
    ping = ping_task(broker_app)
    redis_server.stop()
    with transaction.atomic():
        Site.objects.create(name="Stays", slug="stays")
        enqueue_on_commit(ping, args=[7], task_id="lost", queue=QUEUE)
    # the row is committed (the requeue sweeps resend from it) and the failure is logged
    assert Site.objects.filter(slug="stays").exists()
    assert "could not send tests.ping(7,) to the broker" in caplog.text
