"""Filters shared by every app's filtersets."""

from __future__ import annotations

import django_filters as filters
from django import forms

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
