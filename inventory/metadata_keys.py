"""Keys of ``Machine.metadata`` that belong to an importer rather than to the operator.

An importer (the Tinkerbell app keeps a document's namespace, labels, ``bmcRef`` ... under its
key so an export gives back an equivalent document) registers its key in its
``AppConfig.ready``. Such a key is bookkeeping: the API and pages leave it out, and an edit
that does not mention it keeps the stored value, since the editor never saw it.
"""

from __future__ import annotations

from typing import Any

_BOOKKEEPING_KEYS: set[str] = set()


def register_bookkeeping_key(key: str) -> None:
    _BOOKKEEPING_KEYS.add(key)


def bookkeeping_keys() -> frozenset[str]:
    return frozenset(_BOOKKEEPING_KEYS)


def visible_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as an operator sees it: without any importer's bookkeeping."""
    return {k: v for k, v in metadata.items() if k not in _BOOKKEEPING_KEYS}


def keep_bookkeeping(old: Any, new: Any) -> Any:
    """``new`` metadata with the bookkeeping of ``old`` that the edit did not mention."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    kept = {k: old[k] for k in _BOOKKEEPING_KEYS if k in old and k not in new}
    return {**new, **kept} if kept else new
