# The Celery app is imported here so that `shared_task(...).delay()` binds to it (and to the
# configured Redis broker) in every process that loads Django.
from rackpilot.celery import app as celery_app

__all__ = ["celery_app"]
