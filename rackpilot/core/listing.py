"""List pages of the dashboard: filterset, whitelisted sorting, pagination, HTMX partials."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_filters import FilterSet
from django_htmx.middleware import HtmxDetails

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
) -> HttpResponse:
    """``per_page`` adds context computed from the page's rows (once they are fetched)."""
    ordering = request.GET.get("ordering", "")
    if ordering.lstrip("-") not in orderings:
        ordering = ""  # unknown keys are dropped, not carried on to the next request
    queryset = ordered(filterset.qs, ordering, orderings)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "ordering": ordering,
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
