"""Filters shared by every app's filtersets."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField

from rackpilot.core.models import Event

# The largest primary key any supported database stores (a signed 64-bit integer). A larger
# number in a query string would reach the database and fail there (SQLite raises
# OverflowError, PostgreSQL an out-of-range error): it is refused as bad input instead.
MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)  # type: ignore[arg-type]


class IdFilter(filters.NumberFilter):
    """An object's id (e.g. ``rack_id=3``): a whole number in the database's range, or a
    400 naming the parameter."""

    field_class = IdField


class IPAddressFilter(filters.CharFilter):
    """An IP address, checked before it reaches the database (PostgreSQL's ``inet`` column
    rejects anything else with an error instead of matching nothing)."""

    field_class = forms.GenericIPAddressField


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned to UTC before it reaches the database: Python takes offsets up
    to ±23:59, PostgreSQL refuses those past ±15:59 with an error instead of an answer."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise ValidationError("This time is out of range.", code="invalid") from exc


class DateTimeFilter(filters.IsoDateTimeFilter):
    """A time in ISO 8601 (``2026-12-01T10:00:00+01:00``), compared in UTC."""

    field_class = UTCIsoDateTimeField


class SearchFilterSet(filters.FilterSet):
    """Adds ``q``: a case-insensitive search over ``search_fields``. IP address fields are
    checked as such before a query runs (inventory adds MAC addresses)."""

    FILTER_DEFAULTS = {
        **filters.FilterSet.FILTER_DEFAULTS,
        models.GenericIPAddressField: {"filter_class": IPAddressFilter},
    }

    search_fields: tuple[str, ...] = ()
    q = filters.CharFilter(method="search", label="Search")

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)


class EventFilterSet(SearchFilterSet):
    search_fields = ("verb", "actor_name", "object_repr", "message")
    machine_id = IdFilter(field_name="machine_id")
    # "machine." for every machine event; "verb" stays the exact verb.
    verb_prefix = filters.CharFilter(
        field_name="verb", lookup_expr="startswith", label="Verb starts"
    )
    object_type = filters.CharFilter(field_name="content_type__model", label="Object type")
    since = DateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = DateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["verb", "actor_kind", "actor_name", "machine_id", "request_id"]
