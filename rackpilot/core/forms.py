"""Form helpers the dashboard's apps share: services' errors on their fields, Bootstrap's
invalid marking, textareas kept as typed, and problems located at a line and column."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from rackpilot.core.actors import Actor

M = TypeVar("M")

# Service errors about a template body (syntax, rendering) read "LINE:COL: message".
PROBLEM_RE = re.compile(r"^(?P<line>\d+):(?P<column>\d+): (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """A template problem the pages can point at: line and column in the template body."""

    line: int
    column: int
    message: str


def parse_problems(messages: Iterable[str]) -> tuple[list[Problem], list[str]]:
    """Split service messages into located problems and the ones without a position."""
    located: list[Problem] = []
    other: list[str] = []
    for message in messages:
        match = PROBLEM_RE.match(str(message))
        if match:
            located.append(
                Problem(int(match["line"]), int(match["column"]), match["message"].strip())
            )
        else:
            other.append(str(message))
    return located, other


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field where the form has that field."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        # Fields the form does not show (the machine, say) go on top of the form; their
        # messages name what they are about.
        form.add_error(field if field in form.fields else None, errors)


def save_through_service(
    request: HttpRequest, form: forms.Form, service: Callable[..., M]
) -> M | None:
    """Validate the form, then call ``service(actor=..., **cleaned_data)``; a refusal from the
    service lands on the form like any other error (None is returned then)."""
    if not form.is_valid():
        return None
    try:
        return service(actor=Actor.for_user(request.user), **form.cleaned_data)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


class InvalidMarkingForm(forms.Form):
    """Adds Bootstrap's ``is-invalid`` to the widgets of fields with errors, services' included."""

    def mark_invalid(self) -> None:
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class CRLFTextarea(forms.Textarea):
    """Browsers submit textarea lines with CRLF; templates are stored as they were typed."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        value = super().value_from_datadict(data, files, name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else value
