"""SQL written out for the hottest paths, and its rows turned into model instances.

Where a path runs hundreds of times a second, compiling the ORM's query (joins, filters,
orderings) costs more CPU than the database spends answering it. Such paths write their SQL
once and build instances with ``Model.from_db`` after the same conversions the ORM applies
(a JSON column decoded, SQLite's timestamps made aware and its 0/1 made booleans), so the
instances behave as if the ORM had read them: fields not read are deferred.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(name: str) -> str:
    return connection.ops.quote_name(name)


def for_update(of: str = "") -> str:
    """`` FOR UPDATE [OF of]`` where the database has row locks (SQLite serialises writers by
    its one write lock instead)."""
    if not connection.features.has_select_for_update:
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


def select_list(model: type[Model], attnames: Sequence[str], alias: str) -> str:
    """``alias.column, ...`` for ``attnames`` (``task_id``, not ``task``)."""
    by_attname = {field.attname: field.column for field in model._meta.concrete_fields}
    return ", ".join(f"{alias}.{column(by_attname[name])}" for name in attnames)


@functools.cache
def _converters(
    model: type[Model], attnames: tuple[str, ...], vendor: str
) -> tuple[tuple[tuple[Converter, Any], ...], ...]:
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    result = []
    for name in attnames:
        field = by_attname[name]
        expression = field.get_col(model._meta.db_table)
        found = [
            *connection.ops.get_db_converters(expression),
            *expression.get_db_converters(connection),
        ]
        result.append(tuple((converter, expression) for converter in found))
    return tuple(result)


def model_from_row(model: type[M], attnames: Sequence[str], values: Sequence[Any]) -> M:
    """An instance of ``model`` from ``values`` of the columns ``attnames`` (in the model's
    field order, as ``Model.from_db`` wants a subset), converted as the ORM converts them."""
    names = tuple(attnames)
    converted = []
    for value, converters in zip(values, _converters(model, names, connection.vendor), strict=True):
        for converter, expression in converters:
            value = converter(value, expression, connection)
        converted.append(value)
    return model.from_db(connection.alias, list(names), converted)


def attnames(model: type[Model], *, only: Sequence[str] | None = None) -> tuple[str, ...]:
    """The model's column attnames (or those of ``only``) in field order, the order
    ``model_from_row`` takes them in."""
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if only is None or field.attname in only
    )
