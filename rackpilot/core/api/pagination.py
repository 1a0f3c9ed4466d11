from typing import Any

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


class NarrowSortPagination(StandardPagination):
    """For long lists of wide rows: the page's keys come from a narrow query (the keys and the
    ordering columns are sorted, not whole rows with their joined columns), then the page's
    rows are read by key, prefetches and all. Sorting 10,000 machines with their rack, site
    and BMC columns spilled to disk for a deep page (OFFSET 4,950); the keys alone sort in
    memory in a tenth of the time."""

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        keys_query = queryset.prefetch_related(None).values_list("pk", flat=True)
        keys = super().paginate_queryset(keys_query, request, view)
        if keys is None:
            return None
        keys = list(keys)
        rows = {row.pk: row for row in queryset.filter(pk__in=keys).order_by()}
        return [rows[key] for key in keys if key in rows]
