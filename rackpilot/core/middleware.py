import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from rackpilot.core import metrics
from rackpilot.core.request_context import request_id_var


class RequestIdMiddleware:
    """Tags every request with an id (``X-Request-ID`` if the client sent one) for events."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")[:64]
        request_id = incoming or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class PrometheusMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match else "unmatched"
        metrics.HTTP_REQUESTS.labels(request.method, view, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(view).observe(time.perf_counter() - started)
        return response
