"""Log retention: lines of long-finished workflows are pruned in bounded chunks."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from workflows.models import LogLine, Workflow
from workflows.states import WORKFLOW_FINISHED

PRUNE_CHUNK = 10_000


def logs_prune(*, older_than: datetime | None = None, actor: Actor | None = None) -> int:
    """Delete the log lines of workflows that finished before ``older_than`` (default: the
    configured retention). Chunked, so a large backlog never holds one long transaction."""
    cutoff = older_than or timezone.now() - timedelta(days=settings.LOG_RETENTION_DAYS)
    expired = Workflow.objects.filter(state__in=WORKFLOW_FINISHED, finished_at__lt=cutoff)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                LogLine.objects.filter(action__task__workflow__in=expired).values_list(
                    "pk", flat=True
                )[:PRUNE_CHUNK]
            )
            if not ids:
                break
            deleted, _ = LogLine.objects.filter(pk__in=ids).delete()
            total += deleted
    if total:
        with transaction.atomic():
            record_event(
                actor=actor or Actor.system("retention"),
                verb="logs.pruned",
                message=f"{total} log lines of workflows finished before {cutoff.isoformat()}",
            )
    return total
