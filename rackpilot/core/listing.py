"""List pages of the dashboard: filterset, whitelisted sorting, pagination, HTMX partials,
the columns the operator chose and the CSV export of everything the filter selects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_filters import FilterSet
from django_htmx.middleware import HtmxDetails

from rackpilot.core.access import requires
from rackpilot.core.columns import ColumnSet
from rackpilot.core.csv_export import csv_response

PAGE_SIZE = 50


def ordered(queryset: QuerySet, key: str, orderings: Mapping[str, Sequence[str]]) -> QuerySet:
    fields = orderings.get(key.lstrip("-"))
    if not fields:
        return queryset
    descending = key.startswith("-")
    # Blanks (never seen, not in a rack) go last either way: they are rarely what one sorts for.
    return queryset.order_by(
        *(
            F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
            for field in (*fields, "pk")
        )
    )


def list_page(
    request: HttpRequest,
    *,
    filterset: FilterSet,
    orderings: Mapping[str, Sequence[str]],
    template: str,
    partial: str,
    extra: dict[str, Any] | None = None,
    per_page: Callable[[Page], dict[str, Any]] | None = None,
    columns: ColumnSet | None = None,
    export: str = "",
) -> HttpResponse:
    """``per_page`` adds context computed from the page's rows (once they are fetched);
    ``columns`` puts the chosen ones in the context as ``cols``, and ``export`` names the URL
    of the list's CSV export, linked with the current querystring."""
    ordering = _ordering(request, orderings)
    queryset = ordered(filterset.qs, ordering, orderings)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "ordering": ordering,
        "cols": columns.choose(request.GET) if columns else None,
        "export_url": reverse(export) if export else "",
        **(extra or {}),
        **(per_page(page) if per_page else {}),
    }
    # Filter-form and sort/page requests from HTMX swap only the table. A history restore
    # (back button after the page cache is gone) needs the whole page again.
    htmx: HtmxDetails = request.htmx  # type: ignore[attr-defined]  # set by HtmxMiddleware
    only_table = bool(htmx) and not htmx.history_restore_request
    response = render(request, partial if only_table else template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _ordering(request: HttpRequest, orderings: Mapping[str, Sequence[str]]) -> str:
    ordering = request.GET.get("ordering", "")
    # Unknown keys are dropped, not carried on to the next request.
    return ordering if ordering.lstrip("-") in orderings else ""


def list_export(
    request: HttpRequest,
    *,
    filterset: FilterSet,
    orderings: Mapping[str, Sequence[str]],
    columns: ColumnSet,
    name: str,
) -> HttpResponseBase:
    """Every row the list's filter selects, in its order, with its chosen columns, as CSV.

    A filter the list page would ignore (and say so) is refused here: a download that
    silently holds more rows than the operator filtered for is worse than none."""
    if not filterset.is_valid():
        problems = "; ".join(
            f"{key}: {' '.join(str(m) for m in messages)}"
            for key, messages in filterset.errors.items()
        )
        return HttpResponse(
            f"The filter cannot be used ({problems}).\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    rows = ordered(filterset.qs, _ordering(request, orderings), orderings)
    return csv_response(request, rows=rows, columns=columns.choose(request.GET).shown, name=name)


def export_view(
    *,
    permission: str,
    filterset: type[FilterSet],
    rows: Callable[[], QuerySet],
    orderings: Mapping[str, Sequence[str]],
    columns: ColumnSet,
    name: str,
) -> Callable[[HttpRequest], HttpResponseBase]:
    """The ``export.csv`` view of a list: ``rows()`` through ``filterset``, for those holding
    ``permission`` (the list's own), answering GET only."""

    @require_GET
    @requires(permission)
    def export(request: HttpRequest) -> HttpResponseBase:
        return list_export(
            request,
            filterset=filterset(request.GET, queryset=rows()),
            orderings=orderings,
            columns=columns,
            name=name,
        )

    export.__name__ = export.__qualname__ = f"{name.replace('-', '_')}_export"
    return export
