"""Which machines a bulk command goes to: one implementation for the API and the pages.

A bulk command (power, bulk workflows, and any later one) names its machines with the machine
list's own filters. Mistakes must select nothing rather than everything: an unknown filter key
(a typo such as ``racks``), an empty list or a blank value is an error naming the key, and an
empty filter is refused unless the request says ``all``. The selection is evaluated once into
a sorted list of ids whose digest the caller can show and send back with the command; the
command re-evaluates the same filter and refuses to run when the digest no longer matches, so
what the operator confirmed is what runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from inventory.filtersets import MachineFilterSet
from inventory.models import Machine
from inventory.selectors import machine_list
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.pages import form_status

# Keys of the machine list page's querystring that are not filters (paging, ordering,
# columns): the bulk pages are reached from that page's links and ignore them.
LIST_PAGE_KEYS = frozenset({"page", "page_size", "ordering", "columns", "all", "selection"})


class SelectionError(Exception):
    """The filter cannot be used; ``errors`` maps each offending key to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))


class SelectionChanged(ConflictError):
    """The filter selects other machines than the ones the operator confirmed."""

    code = "selection_changed"

    def __init__(self, *, expected: str, selection: MachineSelection) -> None:
        self.expected = expected
        self.selection = selection
        self.extra = {"count": selection.count, "selection": selection.digest}
        super().__init__(
            f"The selection changed since it was confirmed: the filter now selects "
            f"{selection.count} machine{'s' if selection.count != 1 else ''} "
            f"(selection {selection.digest}, not {expected}). Look at it again."
        )


@dataclass(frozen=True)
class MachineSelection:
    filters: dict[str, list[str]]
    select_all: bool
    ids: tuple[int, ...] = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> str:
        """Names exactly these machines: the same filter over a changed fleet differs."""
        return machine_ids_digest(self.ids)

    def machines(self) -> QuerySet[Machine]:
        # By primary key: the filter's joins (DISTINCT, outer joins) cannot be locked FOR
        # UPDATE as they are, and the ids are what the digest names.
        return Machine.objects.filter(pk__in=self.ids).order_by("hostname", "pk")

    def describe(self) -> str:
        if self.select_all:
            return "every machine"
        return ", ".join(f"{key}={','.join(values)}" for key, values in self.filters.items())

    def check(self, expected: str | None) -> None:
        """Raise SelectionChanged when ``expected`` (a digest shown earlier) no longer holds."""
        if expected and expected != self.digest:
            raise SelectionChanged(expected=expected, selection=self)


def machine_ids_digest(ids: tuple[int, ...] | list[int]) -> str:
    text = ",".join(str(pk) for pk in sorted(ids))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _values(key: str, value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise SelectionError({key: "An empty list selects nothing; leave the key out instead."})
    values: list[str] = []
    for item in items:
        if item is None or isinstance(item, dict | list | tuple):
            raise SelectionError({key: "Give a value (text, number or true/false)."})
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if not text.strip():
            raise SelectionError({key: "A blank value is not a filter; leave the key out."})
        values.append(text)
    return values


def machine_selection(*, filters: Mapping[str, Any], select_all: bool = False) -> MachineSelection:
    """The machines ``{"site": "fra1", "state": ["ready"]}`` selects, as GET /machines/ would.

    SelectionError names every key that cannot be used; an empty filter selects nothing
    unless ``select_all`` is given, and ``select_all`` with filters is a contradiction.
    """
    if not isinstance(filters, Mapping):
        raise SelectionError({"filter": "Give the filters as an object of key: value."})
    known = MachineFilterSet.base_filters
    errors: dict[str, str] = {}
    normalised: dict[str, list[str]] = {}
    for key, value in filters.items():
        if key not in known:
            errors[key] = f"Unknown filter. Known filters: {', '.join(sorted(known))}."
            continue
        try:
            normalised[key] = _values(key, value)
        except SelectionError as exc:
            errors.update(exc.errors)
    if errors:
        raise SelectionError(errors)
    if select_all and normalised:
        raise SelectionError({"all": "Either filters or all: true, not both."})
    if not normalised and not select_all:
        raise SelectionError(
            {
                "filter": "An empty filter selects nothing: give at least one filter, or "
                '"all": true to send the command to every machine.'
            }
        )
    query = QueryDict(mutable=True)
    for key, values in normalised.items():
        query.setlist(key, values)
    filterset = MachineFilterSet(query, queryset=machine_list())
    if not filterset.is_valid():
        raise SelectionError(
            {key: " ".join(str(m) for m in messages) for key, messages in filterset.errors.items()}
        )
    ids = tuple(filterset.qs.order_by("pk").values_list("pk", flat=True).distinct())
    return MachineSelection(filters=normalised, select_all=select_all, ids=ids)


def machine_selection_from_query(query: QueryDict) -> MachineSelection:
    """The selection a bulk page's querystring names (the machine list's own filter form).

    The list's form submits every field, so blank values there mean "not set" and are dropped;
    paging and ordering keys are ignored; anything else unknown is still an error.
    """
    filters: dict[str, list[str]] = {}
    for key in query:
        if key in LIST_PAGE_KEYS:
            continue
        values = [value for value in query.getlist(key) if value.strip()]
        if values:
            filters[key] = values
    select_all = query.get("all", "").lower() in {"1", "true", "yes", "on"}
    return machine_selection(filters=filters, select_all=select_all)


def selection_query(selection: MachineSelection) -> str:
    """The querystring that names ``selection`` again on the bulk pages."""
    query = QueryDict(mutable=True)
    for key, values in selection.filters.items():
        query.setlist(key, values)
    if selection.select_all:
        query["all"] = "true"
    return query.urlencode()


@dataclass(frozen=True)
class PageSelection:
    """What a bulk page shows: the selection, or why there is none; and, after a POST, whether
    the selection still is the one the page showed when the operator confirmed."""

    selection: MachineSelection | None
    refusal: str = ""
    changed: str = ""
    # The refusal is "no filter at all": the page offers selecting every machine instead.
    empty_filter: bool = False


def bulk_page_selection(query: QueryDict, *, confirmed: str | None = None) -> PageSelection:
    """The bulk pages' selection from their querystring; ``confirmed`` is the digest the
    page's form carried back (None on GET)."""
    try:
        selection = machine_selection_from_query(query)
    except SelectionError as exc:
        if list(exc.errors) == ["filter"]:
            return PageSelection(None, refusal=exc.errors["filter"], empty_filter=True)
        problems = "; ".join(f"{key}: {message}" for key, message in exc.errors.items())
        return PageSelection(None, refusal=f"The machine filter cannot be used ({problems}).")
    if confirmed is not None and confirmed != selection.digest:
        return PageSelection(
            selection,
            changed=f"The machines this filter selects changed since the page was shown: it now "
            f"selects {selection.count}. Nothing was sent; check the list and confirm again.",
        )
    return PageSelection(selection)


@dataclass
class BulkPage:
    """One request to a bulk page (GET shows the selection, POST runs the command on it):
    the selection or why there is none, and the context every bulk page's template shows."""

    selection: MachineSelection | None
    changed: str
    posted: bool
    context: dict[str, Any]

    def may_run(self, form: forms.Form) -> bool:
        """The command runs on a valid POST whose selection is still the confirmed one."""
        return self.posted and not self.changed and form.is_valid()

    def show(
        self, form: forms.Form, machines: QuerySet[Machine], *, count: int, limit: int
    ) -> None:
        """The page again: the form, the first ``limit`` machines of ``count``, the filters."""
        assert self.selection is not None
        self.context.update(
            form=form,
            machines=machines[:limit],
            machine_count=count,
            hidden_count=max(count - limit, 0),
            filters=[(key, ", ".join(values)) for key, values in self.selection.filters.items()],
        )

    def status(self, form: forms.Form) -> int:
        """409 when the selection changed under the operator, 400 for form errors, else 200."""
        return 409 if self.changed else form_status(form)


def bulk_page(request: HttpRequest) -> BulkPage:
    posted = request.method == "POST"
    confirmed = request.POST.get("selection", "") if posted else None
    page = bulk_page_selection(request.GET, confirmed=confirmed)
    context: dict[str, Any] = {
        "query": request.GET.urlencode(),
        "refusal": page.refusal,
        "empty_filter": page.empty_filter,
    }
    if page.selection is not None:
        context.update(
            query=selection_query(page.selection), selection=page.selection, changed=page.changed
        )
    return BulkPage(page.selection, page.changed, posted, context)
