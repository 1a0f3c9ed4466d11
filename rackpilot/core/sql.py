"""SQL written out for the hottest paths, and its rows turned into model instances.

Where a path runs hundreds of times a second, compiling the ORM's query (joins, filters,
orderings) costs more CPU than the database spends answering it. Such paths write their SQL
once and build instances with ``Model.from_db`` after the same conversions the ORM applies
(a JSON column decoded, SQLite's timestamps made aware and its 0/1 made booleans), so the
instances behave as if the ORM had read them: fields not read are deferred.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.utils import CursorWrapper
from django.db.models import Model, signals
from django.db.models.base import ModelState

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


# psycopg prepares nothing while a connection's threshold is None (Django's default, for
# poolers); ORM queries go through client-side binding, which never prepares whatever it is.
_NEVER_BY_COUNT = 2**31 - 1


@functools.cache
def _prepared_cursor_class() -> type[Any]:
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )

    class PreparedCursor(ServerBindingCursor):  # type: ignore[misc, valid-type]
        """Binds on the server and prepares each statement on its first run per connection."""

        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            result = super().execute(query, params, prepare=True, **options)
            # Django's query log (debug, tests' query counts) reads the statement where
            # client-side binding leaves it; composed only if read.
            self._query = _LoggedStatement(query, params)
            return result

    return PreparedCursor


class _LoggedStatement:
    def __init__(self, sql: str, params: Any):
        self._sql, self._params = sql, params

    @property
    def query(self) -> bytes:
        ops: Any = connection.ops  # PostgreSQL's
        return str(ops.compose_sql(self._sql, self._params)).encode()


@contextlib.contextmanager
def hot_cursor(*, prepared: bool = True) -> Iterator[CursorWrapper]:
    """A cursor for a hand-written statement whose text is fixed (its parameters vary, not
    their number): on PostgreSQL prepared once per connection and bound on the server, so each
    run skips planning and Python's quoting (DB_PREPARED_STATEMENTS); elsewhere Django's own
    cursor. Wrapped as Django wraps cursors: errors, query logging and counting are the same.

    Only for statements whose plan cannot go wrong for some parameters (a generic plan is
    used after five runs) and whose text has a fixed number of parameters (each length of an
    ``IN`` list would be a statement of its own): the next-action read once got a plan that
    scanned every pending action, and prepared, took state reports from 353 to 157 a second;
    written so its plan cannot (workflows/agent_protocol/selectors.py), the agent messages'
    statements prepared took PostgreSQL's CPU per report from 1.6 to 1.2 ms. A generic plan
    lasts until the tables it reads are analyzed again: made on nearly empty tables, the
    token re-check read the whole workflow table per message until then (autovacuum analyzes
    a growing table often; the benchmarks analyze after seeding)."""
    # The connection looked up once: each ``connection.x`` goes through the proxy and a
    # thread-local lookup, a twelfth of this function's cost on every agent message.
    db = connections[DEFAULT_DB_ALIAS]
    if not prepared or db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw_connection: Any = db.connection
    if raw_connection.prepare_threshold is None:
        raw_connection.prepare_threshold = _NEVER_BY_COUNT
    with db.wrap_database_errors:
        raw_cursor = _prepared_cursor_class()(raw_connection)
    # Django's own wrapping of a new cursor (what connection.cursor() does with its own).
    wrapped: Any = db._prepare_cursor(raw_cursor)  # type: ignore[attr-defined]
    with wrapped as cursor:
        yield cursor


# Statements are written per call from these (the agent protocol's on every message): their
# pieces are computed once per process and database (profiled: a twentieth of a state report's
# CPU went to rebuilding select lists).
def table(model: type[Model]) -> str:
    return _quoted(connection.vendor, model._meta.db_table)


def column(name: str) -> str:
    return _quoted(connection.vendor, name)


@functools.cache
def _quoted(vendor: str, name: str) -> str:
    return connection.ops.quote_name(name)


def in_values(column_sql: str, values: Collection[Any]) -> tuple[str, list[Any]]:
    """``column IN values``: one array parameter on PostgreSQL (the statement's text is the
    same whatever the count, so it is prepared once), one placeholder per value elsewhere."""
    ordered = sorted(values)
    if connection.vendor == "postgresql":
        return f"{column_sql} = ANY(%s)", [ordered]
    return f"{column_sql} IN ({', '.join(['%s'] * len(ordered))})", list(ordered)


def for_update(of: str = "") -> str:
    """`` FOR UPDATE [OF of]`` where the database has row locks (SQLite serialises writers by
    its one write lock instead)."""
    if not connection.features.has_select_for_update:
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


def select_list(model: type[Model], attnames: Sequence[str], alias: str) -> str:
    """``alias.column, ...`` for ``attnames`` (``task_id``, not ``task``)."""
    return _select_list(connection.vendor, model, tuple(attnames), alias)


@functools.cache
def _select_list(vendor: str, model: type[Model], attnames: tuple[str, ...], alias: str) -> str:
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
    field order, as ``Model.from_db`` wants a subset), converted as the ORM converts them.

    Built as ``from_db`` builds it, without running ``Model.__init__`` over every field: the
    values go into the instance's ``__dict__`` and the columns not read stay out of it, which
    is how Django tells a deferred field (read on first access). Profiled, ``__init__`` was
    most of the cost of the rows a group of state reports locks. A model with init signals,
    or with a ``from_db`` of its own, is built by ``from_db``."""
    names = tuple(attnames)
    db = connections[DEFAULT_DB_ALIAS]
    converted = []
    for value, converters in zip(values, _converters(model, names, db.vendor), strict=True):
        for converter, expression in converters:
            value = converter(value, expression, db)
        converted.append(value)
    if not _built_directly(model):
        return model.from_db(db.alias, list(names), converted)
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, converted, strict=True))
    state = instance._state = ModelState()
    state.adding, state.db = False, db.alias
    return instance


def _built_directly(model: type[Model]) -> bool:
    return (
        model.from_db.__func__ is Model.from_db.__func__  # type: ignore[attr-defined]
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
    )


def attnames(model: type[Model], *, only: Sequence[str] | None = None) -> tuple[str, ...]:
    """The model's column attnames (or those of ``only``) in field order, the order
    ``model_from_row`` takes them in."""
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if only is None or field.attname in only
    )


@dataclass(frozen=True)
class PendingSave:
    """A ``save_fields`` UPDATE not run yet (``saves_deferred``)."""

    sql: str
    params: tuple[Any, ...]
    label: str


_deferred_to: ContextVar[list[PendingSave] | None] = ContextVar("deferred_saves", default=None)


def save_fields(instance: Model, fields: Sequence[str]) -> None:
    """``instance.save(update_fields=fields)`` for the hottest writes (an action's state on
    every agent report): one UPDATE by primary key, prepared where statements are
    (``hot_cursor``), instead of the ORM's update compiler. Values are prepared as ``save``
    prepares them (``auto_now`` set, JSON dumped). Save signals are not sent: nothing in the
    project listens to them. Inside ``saves_deferred`` the UPDATE waits for ``run_saves``."""
    model = type(instance)
    names = tuple(fields)
    sql, model_fields = _update_statement(connection.vendor, model, names)
    values = [
        field.get_db_prep_save(field.pre_save(instance, False), connection)  # type: ignore[attr-defined]
        for field in model_fields
    ]
    save = PendingSave(sql, (*values, instance.pk), f"{model.__name__} {instance.pk}")
    pending = _deferred_to.get()
    if pending is not None:
        pending.append(save)
    else:
        run_saves([save])


@contextlib.contextmanager
def saves_deferred(pending: list[PendingSave]) -> Iterator[None]:
    """Inside, ``save_fields`` adds its UPDATE (values as they are now) to ``pending`` instead
    of running it; ``run_saves(pending)`` runs them later, together. Only around code that reads
    none of the rows it saves before they are run, and whose rows are locked already: a group
    of state reports saves each report's action, and a hundred UPDATEs then cost one round
    trip instead of a hundred (profiled: half of a report group's time went to waiting on
    them one by one)."""
    token = _deferred_to.set(pending)
    try:
        yield
    finally:
        _deferred_to.reset(token)


def run_saves(saves: Sequence[PendingSave]) -> None:
    """Run the UPDATEs, those of one statement text together (on PostgreSQL, one pipeline:
    one round trip, each statement prepared once); each must update its row. A row saved more
    than once is saved in the order given."""
    if not saves:
        return
    by_statement: dict[str, list[PendingSave]] = {}
    if len({save.label for save in saves}) < len(saves):
        by_statement = {f"{index}": [save] for index, save in enumerate(saves)}
    else:
        for save in saves:
            by_statement.setdefault(save.sql, []).append(save)
    with hot_cursor() as cursor:
        for same in by_statement.values():
            if len(same) == 1:
                cursor.execute(same[0].sql, same[0].params)
            else:
                cursor.executemany(same[0].sql, [save.params for save in same])
            if cursor.rowcount == len(same):
                continue
            if len(same) == 1:
                raise DatabaseError(f"{same[0].label} is gone: nothing was updated")
            labels = ", ".join(save.label for save in same)
            raise DatabaseError(
                f"{cursor.rowcount} of {len(same)} rows updated: one of {labels} is gone"
            )


@functools.cache
def _update_statement(
    vendor: str, model: type[Model], names: tuple[str, ...]
) -> tuple[str, tuple[Any, ...]]:
    by_name = {field.name: field for field in model._meta.concrete_fields}
    by_name.update({field.attname: field for field in model._meta.concrete_fields})
    fields = tuple(by_name[name] for name in names)
    assignments = ", ".join(f"{column(field.column)} = %s" for field in fields)
    primary_key = column(model._meta.pk.column)  # type: ignore[union-attr]
    return f"UPDATE {table(model)} SET {assignments} WHERE {primary_key} = %s", fields
