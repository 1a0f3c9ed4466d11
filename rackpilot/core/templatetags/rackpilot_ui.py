"""Small presentation helpers shared by the dashboard templates."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# One icon per actor kind of an event, so the timeline scans quickly.
ACTOR_ICONS = {"user": "bi-person", "agent": "bi-cpu", "system": "bi-gear"}
DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


@register.filter
def state_class(state: Any) -> str:
    """CSS class carrying a lifecycle state's colour (see rackpilot.css)."""
    return f"rp-state-{state}"


@register.filter
def disk_size(size_bytes: int | None) -> str:
    """Decimal units, as disk vendors and ``lsblk --bytes`` users count (480 GB, 1.92 TB)."""
    if size_bytes is None:
        return "—"
    size, index = float(size_bytes), 0
    while size >= 1000 and index < len(DECIMAL_UNITS) - 1:
        size /= 1000
        index += 1
    # Three significant digits at most: 1.92 TB, 480 GB, 12 TB.
    text = f"{size:.0f}" if index == 0 or size >= 100 else f"{size:.3g}"
    return f"{text} {DECIMAL_UNITS[index]}"


@register.filter
def units_down(top: int, span: int) -> range:
    """The rack units a machine covers, top first: 12|units_down:2 gives 12, 11."""
    return range(int(top), int(top) - int(span), -1)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def change_value(value: Any) -> str:
    """One side of an event change, short enough for a timeline row."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(change_value(v) for v in value) or "[]"
    if isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        return text if len(text) <= 80 else text[:79] + "…"
    return str(value)


@register.filter
def actor_icon(kind: str) -> str:
    return ACTOR_ICONS.get(kind, "bi-question-circle")


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, key: str, label: str) -> SafeString:
    """A column title that sorts the list by ``key``; a second click reverses the order.

    The link works without JavaScript; with HTMX it swaps only the table (the target is
    set on the table's wrapper) and pushes the URL so the sort survives a reload.
    """
    request: HttpRequest = context["request"]
    current = request.GET.get("ordering", "")
    query = request.GET.copy()
    query.pop("page", None)
    query["ordering"] = f"-{key}" if current == key else key
    url = f"{request.path}?{query.urlencode()}"
    if current == key:
        icon, sort = "bi-caret-up-fill", "ascending"
    elif current == f"-{key}":
        icon, sort = "bi-caret-down-fill", "descending"
    else:
        icon, sort = "bi-chevron-expand text-body-tertiary", "none"
    return format_html(
        '<a class="rp-sort" href="{}" hx-get="{}" hx-push-url="true" data-sort="{}">'
        '{} <i class="bi {}" aria-hidden="true"></i></a>',
        url,
        url,
        sort,
        label,
        icon,
    )
