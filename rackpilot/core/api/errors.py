"""Maps the domain's named errors onto HTTP answers, in one place."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from rackpilot.core.statemachine import TransitionError


class ConflictError(Exception):
    """A request that is well-formed but conflicts with the current state (HTTP 409)."""

    code = "conflict"
    # More of the current state, answered beside ``detail`` (e.g. what a selection is now).
    extra: dict[str, Any] = {}


def validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [m for e in errs for m in e]
            for field, errs in exc.error_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(detail=validation_detail(exc))
    if isinstance(exc, TransitionError):
        return Response(
            {
                "detail": str(exc),
                "code": exc.code,
                "current": exc.current,
                "requested": exc.target,
                "allowed": exc.allowed,
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ConflictError):
        return Response(
            {"detail": str(exc), "code": exc.code, **exc.extra}, status=status.HTTP_409_CONFLICT
        )
    return drf_exception_handler(exc, context)
