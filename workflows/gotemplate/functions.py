"""Sprig's hermetic function map (``sprig.HermeticTxtFuncMap()``), the one Tinkerbell renders with.

Every function of Sprig v3's generic map is here except the non-hermetic ones, which read
the environment, the network, the clock or a random source by name: ``env``, ``expandenv``,
``getHostByName``, ``now``, ``date`` and its zone/modify variants, ``htmlDate*``,
``randAlpha``/``randAlphaNum``/``randAscii``/``randNumeric``, ``randBytes`` and ``uuidv4``.
Templates calling them fail to parse with "function ... not defined", as in Tinkerbell.

Argument order follows Sprig (``contains SUBSTR STR``, ``hasPrefix PREFIX STR``) so
``"x" | contains .y`` style pipelines read the same as in Go. Functions of a particular
dialect (Tinkerbell's ``formatPartition``...) are passed in by the caller (``funcs=``).
The functions live in topic modules (sprig_strings.py, sprig_lists.py, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .callspec import FuncSpec, spec_for
from .gotypes import strval
from .sprig_crypto import CRYPTO_FUNCTIONS
from .sprig_dates import DATE_FUNCTIONS
from .sprig_defaults import DEFAULT_FUNCTIONS
from .sprig_dicts import DICT_FUNCTIONS
from .sprig_encoding import ENCODING_FUNCTIONS
from .sprig_lists import LIST_FUNCTIONS
from .sprig_math import MATH_FUNCTIONS
from .sprig_paths import PATH_FUNCTIONS
from .sprig_regex import REGEX_FUNCTIONS
from .sprig_semver import SEMVER_FUNCTIONS
from .sprig_strings import STRING_FUNCTIONS

__all__ = ["NON_HERMETIC", "sprig_function_table", "sprig_functions", "strval"]

# In Sprig's generic map but left out of its hermetic one.
NON_HERMETIC = frozenset(
    {
        "date",
        "date_in_zone",
        "date_modify",
        "now",
        "htmlDate",
        "htmlDateInZone",
        "dateInZone",
        "dateModify",
        "randAlphaNum",
        "randAlpha",
        "randAscii",
        "randNumeric",
        "randBytes",
        "uuidv4",
        "env",
        "expandenv",
        "getHostByName",
    }
)


def sprig_function_table() -> dict[str, Callable[..., Any]]:
    table: dict[str, Callable[..., Any]] = {}
    for group in (
        STRING_FUNCTIONS,
        LIST_FUNCTIONS,
        DICT_FUNCTIONS,
        MATH_FUNCTIONS,
        ENCODING_FUNCTIONS,
        REGEX_FUNCTIONS,
        DEFAULT_FUNCTIONS,
        DATE_FUNCTIONS,
        PATH_FUNCTIONS,
        SEMVER_FUNCTIONS,
        CRYPTO_FUNCTIONS,
    ):
        overlap = table.keys() & group.keys()
        assert not overlap, f"Sprig functions defined twice: {sorted(overlap)}"
        table.update(group)
    assert not table.keys() & NON_HERMETIC
    return table


def sprig_functions() -> dict[str, FuncSpec]:
    return {name: spec_for(fn) for name, fn in sprig_function_table().items()}
