"""Bulk requests name their machines with the machine list's own filters, as a JSON object."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from inventory.filtersets import MachineFilterSet
from inventory.models import Machine
from inventory.selectors import machine_list


def machines_from_filter(filter_values: dict[str, Any]) -> QuerySet[Machine]:
    """The machines ``{"site": "fra1", "state": ["ready"]}`` selects, as GET /machines/ would;
    ValidationError on ``filter`` for a bad or empty filter (empty would mean every machine)."""
    query = QueryDict(mutable=True)
    for key, value in filter_values.items():
        query.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    machines = MachineFilterSet(query, queryset=machine_list())
    if not machines.is_valid():
        raise ValidationError({"filter": machines.errors})
    if not query:
        raise ValidationError({"filter": "Give at least one filter (no filter = every machine)."})
    return machines.qs
