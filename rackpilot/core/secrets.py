"""Secret values shown only to users with ``view_secrets``, masked for everyone else.

What counts as secret: a machine's ``user_data``, ``vendor_data`` and ``ipxe_script`` (they
carry passwords, keys and join tokens), the values of action and task environments, and a
workflow's rendered template and spec (which contain those environments). Keys of an
environment stay visible: an operator can see that ``ROOT_PASSWORD`` is set without seeing it.

A masked value sent back (a form or an API client that saves what it read) leaves the stored
value as it is: ``is_mask`` tells the writers to drop it.
"""

from __future__ import annotations

from typing import Any

from rackpilot.core.access import VIEW_SECRETS

MASK = "********"
MACHINE_SECRET_FIELDS = ("user_data", "vendor_data", "ipxe_script")


def can_view_secrets(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(VIEW_SECRETS))


def is_mask(value: Any) -> bool:
    return value == MASK


def masked_text(value: str) -> str:
    """The mask for a value that is set, empty for one that is not (that much is not secret)."""
    return MASK if value else ""


def masked_environment(environment: Any) -> Any:
    if not isinstance(environment, dict):
        return environment
    return dict.fromkeys(environment, MASK)


def masked_spec(value: Any) -> Any:
    """A copy of a workflow spec with every ``environment`` mapping's values masked."""
    if isinstance(value, dict):
        return {
            key: masked_environment(item) if key == "environment" else masked_spec(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked_spec(item) for item in value]
    return value
