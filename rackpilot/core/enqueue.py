"""Handing work to Celery once the rows it needs are committed.

A send runs after the commit, inside the request (or task) that committed: by then the
change is stored and the caller has been told so, so a broker that is restarting must neither
undo nor fail it. The send is retried for a bounded while (CELERY_TASK_PUBLISH_RETRY_POLICY);
if the broker is still away, the failure is logged and the row stays queued, where the
requeue sweeps (builds, power jobs) find it and send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def send_task(
    task: Task,  # type: ignore[type-arg]
    *,
    args: Sequence[Any] = (),
    task_id: str | None = None,
    queue: str | None = None,
    expires: float | None = None,
) -> bool:
    """Publish ``task(*args)``, retrying while the broker is unreachable; whether it was
    sent. Never raises: the caller's work is already committed."""
    options: dict[str, Any] = {
        "retry": True,
        "retry_policy": dict(settings.CELERY_TASK_PUBLISH_RETRY_POLICY),
    }
    if task_id is not None:
        options["task_id"] = task_id
    if queue is not None:
        options["queue"] = queue
    if expires is not None:
        options["expires"] = expires
    try:
        task.apply_async(args=list(args), **options)
    except Exception:
        logger.exception(
            "could not send %s%s to the broker; the requeue sweep sends it again",
            task.name,
            tuple(args),
        )
        return False
    return True


def enqueue_on_commit(
    task: Task,  # type: ignore[type-arg]
    *,
    args: Sequence[Any] = (),
    task_id: str | None = None,
    queue: str | None = None,
) -> None:
    """``send_task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(send_task, task, args=args, task_id=task_id, queue=queue))
