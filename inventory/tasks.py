# Celery finds an app's tasks in <app>/tasks.py: power control's live with it.
from inventory.power.tasks import (  # noqa: F401
    fail_lost_power_jobs,
    poll_bmc,
    poll_power,
    run_power_job,
)
