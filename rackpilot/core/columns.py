"""Which columns a list page shows: one registry per list, the choice read from ``?columns=``.

A list declares its columns once: key, label, whether it is shown by default, the ordering
key its header sorts by, and the cell's plain value for the CSV export. The page renders only
the chosen columns, the export writes the same ones, and the choice travels in the
querystring (``columns=hostname,state,ip``, or ``columns`` repeated) so a link, a reload, a
sort, a page link and an export all keep it; the browser remembers it per list (lists.js).

Unknown keys are dropped, as an unknown ordering is: a stale bookmark still opens the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

COLUMNS_PARAM = "columns"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # The cell as plain data for the export: text, a number, a bool, a time, None or a list.
    value: Callable[[Any], object]
    default: bool = True
    # The list's ordering key when the header sorts the list.
    sort: str = ""
    # Always shown: the column that names (and links to) the row's object.
    locked: bool = False


@dataclass(frozen=True)
class ColumnSet:
    """The columns one list can show, in display order."""

    name: str  # the list's name, under which the browser remembers the choice
    columns: tuple[Column, ...]
    by_key: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [column.key for column in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}: a column key is declared twice")
        object.__setattr__(self, "by_key", {column.key: column for column in self.columns})

    @property
    def defaults(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns if c.default or c.locked)

    def choose(self, query: QueryDict) -> ChosenColumns:
        """The columns ``query`` asks for; none known (or none asked) means the defaults."""
        asked = {
            key.strip()
            for value in query.getlist(COLUMNS_PARAM)
            for key in value.split(",")
            if key.strip() in self.by_key
        }
        if not asked:
            return ChosenColumns(self, self.defaults)
        keys = tuple(c.key for c in self.columns if c.key in asked or c.locked)
        return ChosenColumns(self, keys)


@dataclass(frozen=True)
class ChosenColumns:
    """The chosen columns of a list, for its templates: ``{% if cols.site %}`` is true when
    the site column is shown; ``cols.shown`` lists them; ``cols.param`` is the querystring
    value that names the choice ("" for the defaults)."""

    registry: ColumnSet
    keys: tuple[str, ...]

    def __getitem__(self, key: str) -> bool:
        # Only column keys: anything else falls through to attributes in templates.
        if key not in self.registry.by_key:
            raise KeyError(key)
        return key in self.keys

    def __iter__(self) -> Iterator[Column]:
        return iter(self.shown)

    @property
    def shown(self) -> list[Column]:
        return [self.registry.by_key[key] for key in self.keys]

    @property
    def count(self) -> int:
        return len(self.keys)

    @property
    def is_default(self) -> bool:
        return self.keys == self.registry.defaults

    @property
    def param(self) -> str:
        return "" if self.is_default else ",".join(self.keys)

    @property
    def list_name(self) -> str:
        return self.registry.name

    @property
    def default_param(self) -> str:
        return ",".join(self.registry.defaults)

    @property
    def menu(self) -> list[tuple[Column, bool]]:
        """Every column with whether it is shown, for the Columns dropdown."""
        return [(column, column.key in self.keys) for column in self.registry.columns]


def column_set(name: str, columns: Sequence[Column]) -> ColumnSet:
    return ColumnSet(name=name, columns=tuple(columns))
