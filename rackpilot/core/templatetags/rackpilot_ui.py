"""Small presentation helpers shared by the dashboard templates."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from rackpilot.core.durations import duration_text

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


@register.simple_tag(takes_context=True)
def overview_section(context: template.Context, rendered: Any) -> SafeString:
    """An overview section's template with its own context on top of the page's, as
    ``{% include %}`` would render it (rackpilot/core/overview.py)."""
    engine = context.template.engine if context.template else template.Engine.get_default()
    section_template = engine.get_template(rendered.template)
    with context.push(**rendered.context):
        return SafeString(section_template.render(context))


@register.filter
def duration(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(seconds)


@register.simple_tag
def phase_cell(group: Any, key: str) -> SafeString:
    """A table cell with a phase's p50 / p95 (workflows/phases.py), or a dash."""
    stats = group.stats(key)
    if stats is None:
        return format_html('<td class="text-end text-body-tertiary">—</td>')
    return format_html(
        '<td class="text-end text-nowrap" title="{} runs">{} <span class="text-body-secondary">'
        "/ {}</span></td>",
        stats.count,
        duration_text(stats.p50),
        duration_text(stats.p95),
    )


@register.filter
def is_change_pair(change: Any) -> bool:
    """An event's ``changes`` entry as ``diff`` writes it, [before, after]; events that record
    a plain value (the artifact a machine fetched, a token's purpose) show it as it is."""
    return isinstance(change, list | tuple) and len(change) == 2
