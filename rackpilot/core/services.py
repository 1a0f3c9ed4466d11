"""Helpers shared by every app's service functions: assign, validate, save, record."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from rackpilot.core.actors import Actor
from rackpilot.core.events import diff, record_event, snapshot

M = TypeVar("M", bound=models.Model)


def assign_fields(
    instance: models.Model, values: Mapping[str, Any], *, allowed: Collection[str]
) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    for name, value in values.items():
        setattr(instance, name, value)


def validate_and_save(instance: models.Model, *, exclude: Collection[str] | None = None) -> None:
    """``full_clean`` then save; a constraint lost to a concurrent writer is still a 400."""
    instance.full_clean(exclude=exclude)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError(
            f"{instance._meta.verbose_name} conflicts with a concurrent change: {exc}"
        ) from exc


def editable_field_names(model: type[models.Model], *, exclude: Collection[str] = ()) -> list[str]:
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name not in exclude
    ]


def lock(instance: M) -> M:
    """Re-read ``instance`` with a row lock, for a read-then-write in this transaction."""
    return type(instance)._default_manager.select_for_update().get(pk=instance.pk)


def save_with_event(
    instance: M,
    *,
    actor: Actor,
    verb: str,
    values: Mapping[str, Any],
    allowed: Collection[str],
    machine: Any = None,
    own_timeline: bool = False,
) -> M:
    """Apply ``values``, validate, save, and record what changed (nothing changed: no event).

    ``own_timeline``: the instance is a machine, and the event goes on its own timeline.
    """
    tracked = editable_field_names(type(instance))
    creating = instance.pk is None
    before = {} if creating else snapshot(instance, tracked)
    assign_fields(instance, values, allowed=allowed)
    validate_and_save(instance)
    changes = diff(before, snapshot(instance, tracked))
    if creating or changes:
        record_event(
            actor=actor,
            verb=verb,
            obj=instance,
            machine=instance if own_timeline else machine,
            changes=changes,
        )
    return instance


def delete_with_event(
    instance: models.Model, *, actor: Actor, verb: str, machine: Any = None
) -> None:
    record_event(actor=actor, verb=verb, obj=instance, machine=machine)
    try:
        with transaction.atomic():
            instance.delete()
    except models.ProtectedError as exc:
        blockers = sorted({str(obj) for obj in exc.protected_objects})[:5]
        raise ValidationError(
            f"{instance._meta.verbose_name} '{instance}' is still used by: {', '.join(blockers)}"
            + (" and more" if len(exc.protected_objects) > 5 else "")
        ) from exc
