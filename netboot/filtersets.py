"""One filter definition per model, for the dashboard pages and the API alike."""

from __future__ import annotations

import django_filters as filters

from netboot.models import DiscoveryRule
from rackpilot.core.filters import IdFilter, SearchFilterSet


class DiscoveryRuleFilterSet(SearchFilterSet):
    search_fields = ("name", "description", "conditions", "template__name")
    template = filters.CharFilter(field_name="template__name", label="Template (name)")
    template_id = IdFilter(field_name="template_id")

    class Meta:
        model = DiscoveryRule
        fields = ["enabled", "template", "template_id"]
