"""One filter definition per model, for the dashboard pages and the API alike."""

from __future__ import annotations

import django_filters as filters

from inventory.filtersets import IdListFilter
from rackpilot.core.filters import DateTimeFilter, IdFilter, SearchFilterSet
from workflows.models import Template, Workflow
from workflows.states import WorkflowState


class TemplateFilterSet(SearchFilterSet):
    search_fields = ("name", "description")

    class Meta:
        model = Template
        fields = ["name"]


class WorkflowFilterSet(SearchFilterSet):
    search_fields = ("machine__hostname", "template__name")
    id = IdListFilter(label="IDs (id=3&id=7 or id=3,7)")
    state = filters.MultipleChoiceFilter(choices=WorkflowState.choices)
    machine = filters.CharFilter(field_name="machine__hostname", label="Machine (hostname)")
    machine_id = IdFilter(field_name="machine_id")
    template = filters.CharFilter(field_name="template__name", label="Template (name)")
    template_id = IdFilter(field_name="template_id")
    site = filters.CharFilter(field_name="machine__rack__site__slug", label="Site (slug)")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Workflow
        fields = ["state", "machine", "machine_id", "template", "template_id"]
