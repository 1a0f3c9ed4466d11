"""Netboot requests for Prometheus, counted by the process that answered them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from rackpilot.core.metrics import counter

View = Callable[..., HttpResponseBase]

NETBOOT_REQUESTS = counter(
    "rackpilot_netboot_requests_total",
    "Netboot requests by kind (script, artifact, metadata) and outcome",
    ("kind", "outcome"),
)


def outcome_of(status: int) -> str:
    if status < 400:
        return "served"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    return "refused" if status < 500 else "error"


def counted(kind: str) -> Callable[[View], View]:
    """Count every request ``view`` answers, by ``kind`` and the outcome its status says."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            try:
                response = view(request, *args, **kwargs)
            except Exception:
                NETBOOT_REQUESTS.labels(kind, "error").inc()
                raise
            NETBOOT_REQUESTS.labels(kind, outcome_of(response.status_code)).inc()
            return response

        return wrapper

    return decorate
