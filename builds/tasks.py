from typing import Any

from celery import shared_task

from builds.services.lifecycle import builds_recover_stale, builds_requeue_queued
from builds.services.runner import build_run


@shared_task(name="builds.run_build", bind=True, ignore_result=True)
def run_build(self: Any, build_id: int) -> str:
    return build_run(build_id=build_id, task_id=self.request.id or "")


@shared_task(name="builds.recover_stale", ignore_result=True)
def recover_stale() -> int:
    """The build sweep: queued builds whose message was lost, then running ones whose worker
    was."""
    _requeued, failed = builds_requeue_queued()
    return failed + builds_recover_stale()
