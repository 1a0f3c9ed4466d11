import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from rackpilot.core.process import tune_garbage_collection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")

app = Celery("rackpilot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# redbeat tells its settings from the broker's by their bare names (redbeat_redis_url), which
# the CELERY_ namespace hides from it: it would warn that it falls back to the broker URL (and
# hand the sentinel options to the broker's defaults). Named plainly, they are its own.
REDBEAT_SETTINGS = ("redbeat_redis_url", "redbeat_redis_options", "redbeat_key_prefix")


@app.on_after_configure.connect
def _name_redbeat_settings(sender: Celery, source: Any, **kwargs: Any) -> None:
    source.update({name: source[name] for name in REDBEAT_SETTINGS if source.get(name)})


@worker_process_init.connect
def _tune_garbage_collection(**kwargs: Any) -> None:
    # Each pool process, once it has loaded the tasks: see rackpilot/core/process.py.
    tune_garbage_collection()
