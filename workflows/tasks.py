from celery import shared_task

from workflows.services.logs import logs_prune
from workflows.services.timeouts import workflows_enforce_timeouts


@shared_task(name="workflows.enforce_timeouts", ignore_result=True)
def enforce_timeouts() -> int:
    return workflows_enforce_timeouts()


@shared_task(name="workflows.prune_logs", ignore_result=True)
def prune_logs() -> int:
    return logs_prune()
