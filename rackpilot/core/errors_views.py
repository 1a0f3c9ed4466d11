"""Error pages that answer in the caller's language: JSON under ``/api/``, HTML elsewhere.

DRF already turns the errors it sees into JSON; these cover the ones that happen outside a DRF
view (an unknown path, an exception DRF does not handle, a bad Host header, Django's own CSRF
check), which would otherwise hand an API client the dashboard's HTML page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(detail: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json("Bad request.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(str(exception) or "You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Nothing about the failure goes to the client: it is in the server's log.
    if _is_api(request):
        return _json("Server error.", 500)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        # The wording DRF's SessionAuthentication uses for the same failure.
        return _json(f"CSRF Failed: {reason}", 403)
    return csrf.csrf_failure(request, reason=reason)
