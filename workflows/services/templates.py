"""Templates: stored verbatim, refused when their Go template syntax is broken."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rackpilot.core.actors import Actor
from rackpilot.core.services import delete_with_event, editable_field_names, lock, save_with_event
from workflows.models import Template
from workflows.rendering import check_template_syntax

TEMPLATE_FIELDS = editable_field_names(Template, exclude={"created_by"})


def _check_body(values: dict[str, Any]) -> None:
    if "body" not in values:
        return
    problems = check_template_syntax(values["body"], name=values.get("name") or "template")
    if problems:
        raise ValidationError({"body": [str(problem) for problem in problems]})


@transaction.atomic
def template_create(*, actor: Actor, **values: Any) -> Template:
    _check_body(values)
    template = Template(created_by_id=actor.user_id)
    return save_with_event(
        template, actor=actor, verb="template.created", values=values, allowed=TEMPLATE_FIELDS
    )


@transaction.atomic
def template_update(*, template: Template, actor: Actor, **values: Any) -> Template:
    _check_body(values)
    return save_with_event(
        lock(template),
        actor=actor,
        verb="template.updated",
        values=values,
        allowed=TEMPLATE_FIELDS,
    )


@transaction.atomic
def template_delete(*, template: Template, actor: Actor) -> None:
    delete_with_event(template, actor=actor, verb="template.deleted")
