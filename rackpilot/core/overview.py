"""The overview (home page) is made of sections each app registers from its AppConfig.ready,
so this lowest layer knows none of them (as with global search).

A section is a template and a function that returns its context for a request; the page shows
the sections the user may read, by order; each section's template brings its own grid column
(``col-12``, ``col-lg-6``...). ``live`` sections are the counters: the page renders
them again (one request, all of them) when an event arrives over ``/ws/events/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

SectionContext = Callable[[HttpRequest], dict[str, Any]]


@dataclass(frozen=True)
class OverviewSection:
    name: str
    order: int
    permission: str
    template: str
    context: SectionContext
    live: bool = False


@dataclass(frozen=True)
class RenderedSection:
    section: OverviewSection
    context: dict[str, Any]

    @property
    def template(self) -> str:
        return self.section.template

    @property
    def name(self) -> str:
        return self.section.name


_sections: dict[str, OverviewSection] = {}


def register_overview_section(
    *,
    name: str,
    order: int,
    permission: str,
    template: str,
    context: SectionContext,
    live: bool = False,
) -> None:
    """Register (or replace, by name) a section of the overview; ``permission`` guards it."""
    _sections[name] = OverviewSection(name, order, permission, template, context, live)


def overview_sections(request: HttpRequest, *, live: bool) -> list[RenderedSection]:
    """The user's sections of one kind (live counters, or the rest), in order, with context."""
    user = request.user
    return [
        RenderedSection(section, section.context(request))
        for section in sorted(_sections.values(), key=lambda s: (s.order, s.name))
        if section.live == live and user.has_perm(section.permission)
    ]
