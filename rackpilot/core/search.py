"""Global search (the navbar field, Ctrl+K): each app registers what it can find, from its
AppConfig.ready, so this lowest layer knows none of them.

A provider gets the query and a limit and returns hits; the view asks only the providers whose
permission the user holds. A hit is ``exact`` when the query names that one object (its MAC,
its IP, its hostname, ``#12`` for workflow 12): a search with one exact hit goes straight there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PER_KIND = 8
_NUMBER = re.compile(r"#?(\d{1,18})")


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "Machine", "Workflow", ... as the results list heads it
    label: str
    url: str
    detail: str = ""
    exact: bool = False


SearchFunction = Callable[[str, int], list[SearchHit]]


@dataclass(frozen=True)
class SearchProvider:
    name: str
    permission: str
    search: SearchFunction


_providers: dict[str, SearchProvider] = {}


def object_number(query: str) -> int | None:
    """``12`` or ``#12`` as an object's number (a workflow's, a build's); None otherwise."""
    match = _NUMBER.fullmatch(query)
    return int(match.group(1)) if match else None


def register_search_provider(*, name: str, permission: str, search: SearchFunction) -> None:
    """Register (or replace, by name) what an app can find; ``permission`` guards it."""
    _providers[name] = SearchProvider(name, permission, search)


def search_everything(query: str, user: Any, *, per_kind: int = PER_KIND) -> list[SearchHit]:
    """Hits from every provider the user may read, exact ones first, each kind capped."""
    query = query.strip()
    if not query:
        return []
    hits: list[SearchHit] = []
    for provider in sorted(_providers.values(), key=lambda p: p.name):
        if user.has_perm(provider.permission):
            hits += provider.search(query, per_kind)
    return sorted(hits, key=lambda hit: not hit.exact)
