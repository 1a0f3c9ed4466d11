"""The workflow list's CSV export and its bulk command: cancel the ticked (or filtered)
workflows.

The bulk page follows the machine bulk pages (``inventory.selection``): the workflows are
named by the list's own filter in the querystring (``?id=3&id=7`` for ticked rows); an unknown
key is an error, an empty filter selects nothing; GET shows the selection and its digest, and
POST cancels only if the digest sent back still names the same workflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from inventory.selection import LIST_PAGE_KEYS, SelectionError, machine_ids_digest
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.listing import export_view
from workflows.filtersets import WorkflowFilterSet
from workflows.forms import WorkflowCancelForm
from workflows.list_columns import WORKFLOW_COLUMNS, workflow_list_rows
from workflows.models import Workflow
from workflows.services.bulk import workflow_bulk_cancel
from workflows.states import WORKFLOW_UNFINISHED
from workflows.views import WORKFLOW_ORDERINGS

# The bulk page lists the workflows it would cancel; beyond this it only counts them.
BULK_LIST_LIMIT = 200


workflow_list_export = export_view(
    permission="workflows.view_workflow",
    filterset=WorkflowFilterSet,
    rows=workflow_list_rows,
    orderings=WORKFLOW_ORDERINGS,
    columns=WORKFLOW_COLUMNS,
    name="workflows",
)


@dataclass(frozen=True)
class WorkflowSelection:
    filters: dict[str, list[str]]
    ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> str:
        return machine_ids_digest(self.ids)  # a digest of ids, whatever their model

    def query(self) -> str:
        query = QueryDict(mutable=True)
        for key, values in self.filters.items():
            query.setlist(key, values)
        return query.urlencode()


def workflow_selection(query: QueryDict) -> WorkflowSelection:
    """The workflows the workflow list's filter ``query`` selects; SelectionError names each
    key that cannot be used, and an empty filter selects nothing."""
    known = WorkflowFilterSet.base_filters
    filters: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for key in query:
        values = [value for value in query.getlist(key) if value.strip()]
        if key in LIST_PAGE_KEYS or not values:
            continue
        if key not in known:
            errors[key] = f"Unknown filter. Known filters: {', '.join(sorted(known))}."
        else:
            filters[key] = values
    if errors:
        raise SelectionError(errors)
    if not filters:
        raise SelectionError(
            {"filter": "An empty filter selects nothing: tick workflows on the list, or filter it."}
        )
    filterset = WorkflowFilterSet(
        QueryDict(WorkflowSelection(filters, ()).query()), queryset=Workflow.objects.all()
    )
    if not filterset.is_valid():
        raise SelectionError(
            {key: " ".join(str(m) for m in messages) for key, messages in filterset.errors.items()}
        )
    ids = tuple(filterset.qs.order_by("pk").values_list("pk", flat=True).distinct())
    return WorkflowSelection(filters, ids)


@require_http_methods(["GET", "HEAD", "POST"])
@requires(access.RUN_WORKFLOW)
def workflow_bulk_cancel_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"query": request.GET.urlencode()}
    try:
        selection = workflow_selection(request.GET)
    except SelectionError as exc:
        problems = "; ".join(f"{key}: {message}" for key, message in exc.errors.items())
        context["refusal"] = problems if list(exc.errors) != ["filter"] else exc.errors["filter"]
        return render(request, "workflows/workflow_bulk_cancel.html", context, status=400)
    context.update(selection=selection, query=selection.query())
    posted = request.method == "POST"
    form = WorkflowCancelForm(request.POST if posted else None)
    status = 200
    if posted and request.POST.get("selection", "") != selection.digest:
        context["changed"] = (
            f"The workflows this filter selects changed since the page was shown: it now "
            f"selects {selection.count}. Nothing was cancelled; check the list and confirm again."
        )
        status = 409
    elif posted and form.is_valid():
        result = workflow_bulk_cancel(
            workflow_ids=selection.ids,
            actor=Actor.for_user(request.user),
            reason=form.cleaned_data["reason"],
        )
        context["result"] = result
        return render(request, "workflows/workflow_bulk_cancel_result.html", context)
    elif posted:
        status = 400
    rows = workflow_list_rows().filter(pk__in=selection.ids).order_by("pk")
    context.update(
        form=form,
        workflows=rows[:BULK_LIST_LIMIT],
        hidden_count=max(selection.count - BULK_LIST_LIMIT, 0),
        unfinished_count=rows.filter(state__in=WORKFLOW_UNFINISHED).count(),
        filters=[(key, ", ".join(values)) for key, values in selection.filters.items()],
    )
    return render(request, "workflows/workflow_bulk_cancel.html", context, status=status)
