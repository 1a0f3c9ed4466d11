"""Helpers the dashboard's views share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from rackpilot.core.api.errors import ConflictError
from rackpilot.core.statemachine import TransitionError

T = TypeVar("T")


def form_status(form: forms.Form) -> int:
    """A form shown again with errors answers 400, so clients and tests can tell."""
    return 400 if form.is_bound and form.errors else 200


def run_page_command(
    request: HttpRequest, subject: str, verb: str, command: Callable[[], T]
) -> T | None:
    """Run an operator's command from a page: a refusal becomes a message on the page the
    operator comes back to ("Build #3 could not be cancelled: ..."), and None."""
    try:
        return command()
    except (TransitionError, ConflictError) as exc:
        messages.error(request, f"{subject} could not be {verb}: {exc}")
    except ValidationError as exc:
        messages.error(request, f"{subject} could not be {verb}: {'; '.join(exc.messages)}")
    return None
