"""Rows read by written-out SQL become the same instances the ORM would build."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from rackpilot.core.sql import attnames, model_from_row, select_list, table
from tests.workflows.factories import TemplateFactory, provisionable_machine, start
from workflows.models import Action


@pytest.mark.django_db
def test_a_row_converts_as_the_orm_converts_it():
    workflow = start(TemplateFactory(), provisionable_machine())
    action = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    assert action is not None
    action.environment = {"DEST_DISK": "/dev/sda", "nested": {"n": [1, 2]}}
    action.command = ["/bin/sh", "-c", "echo ünïcode"]
    action.started_at = timezone.now()
    action.save()
    columns = attnames(Action)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select_list(Action, columns, 'a')} FROM {table(Action)} a WHERE a.id = %s",
            [action.pk],
        )
        built = model_from_row(Action, columns, cursor.fetchone())
    read = Action.objects.get(pk=action.pk)
    for name in columns:
        assert getattr(built, name) == getattr(read, name), name
    assert built.started_at is not None and timezone.is_aware(built.started_at)
    assert built._state.adding is False and built._state.db == connection.alias


@pytest.mark.django_db
def test_columns_left_out_are_deferred_and_read_when_used():
    workflow = start(TemplateFactory(), provisionable_machine())
    action = Action.objects.filter(task__workflow=workflow).first()
    assert action is not None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name FROM {table(Action)} WHERE id = %s", [action.pk])
        built = model_from_row(Action, ("id", "name"), cursor.fetchone())
    assert built.get_deferred_fields() >= {"image", "environment"}
    assert built.image == action.image  # loaded on first use


@pytest.mark.django_db
def test_a_model_with_init_listeners_is_built_by_from_db_and_they_run():
    """Instances are built without ``__init__`` only where nothing listens to it."""
    from django.db.models.signals import post_init

    workflow = start(TemplateFactory(), provisionable_machine())
    action = Action.objects.filter(task__workflow=workflow).first()
    assert action is not None
    seen: list[object] = []

    def listener(sender: object, instance: Action, **kwargs: object) -> None:
        seen.append(instance.pk)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name FROM {table(Action)} WHERE id = %s", [action.pk])
        row = cursor.fetchone()
    model_from_row(Action, ("id", "name"), row)
    assert seen == []
    post_init.connect(listener, sender=Action)
    try:
        built = model_from_row(Action, ("id", "name"), row)
    finally:
        post_init.disconnect(listener, sender=Action)
    assert seen == [action.pk] and built.name == action.name
