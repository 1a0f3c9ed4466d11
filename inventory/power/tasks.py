from celery import shared_task
from django.conf import settings

from inventory.models import BMC
from inventory.power import services as power_services
from rackpilot.core.enqueue import send_task
from rackpilot.core.queues import power_queue


@shared_task(name="inventory.run_power_job", ignore_result=True)
def run_power_job(job_id: int) -> None:
    power_services.power_job_run(job_id=job_id)


@shared_task(name="inventory.poll_bmc", ignore_result=True)
def poll_bmc(bmc_id: int) -> str:
    return power_services.bmc_poll(bmc_id=bmc_id)


@shared_task(name="inventory.poll_power", ignore_result=True)
def poll_power() -> int:
    """One task per BMC: a slow or dead BMC holds up only its own poll."""
    bmcs = list(BMC.objects.values_list("pk", "machine__rack__site__slug"))
    per_site = settings.CELERY_POWER_QUEUE_PER_SITE
    for bmc_id, site_slug in bmcs:
        # A poll still waiting when the next round is due is dropped: with many dead BMCs the
        # queue would otherwise grow every round.
        send_task(
            poll_bmc,
            args=[bmc_id],
            queue=power_queue(site_slug) if per_site else None,
            expires=settings.POWER_POLL_SECONDS or None,
        )
    return len(bmcs)


@shared_task(name="inventory.fail_lost_power_jobs", ignore_result=True)
def fail_lost_power_jobs() -> int:
    """The power sweep: queued jobs whose message was lost first, then jobs that lost their
    worker."""
    _requeued, failed = power_services.power_jobs_requeue_queued()
    return failed + power_services.power_jobs_fail_lost()
