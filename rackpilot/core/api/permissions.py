"""The API's one permission rule: reads need the model's ``view_*``, the standard writes its
``add_*`` / ``change_*`` / ``delete_*``, and every other action the permissions its viewset
declares in ``action_permissions``. An action declared nowhere is refused to everyone: a new
endpoint is closed until someone says who may use it (the authorization tests list it)."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

STANDARD_ACTIONS = {
    "list": "view",
    "retrieve": "view",
    "metadata": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def model_permission(model: type[models.Model], verb: str) -> str:
    opts = model._meta
    return f"{opts.app_label}.{verb}_{opts.model_name}"


def required_permissions(view: Any, method: str) -> tuple[str, ...] | None:
    """What ``view`` needs for ``method`` (the action DRF routed to), or None: refused."""
    # DRF's router index (its APIRootView, known by the attribute it has: importing the class
    # here would import DRF's views while DRF reads this module from the settings).
    if hasattr(view, "api_root_dict"):
        return ()  # the index of endpoints: any signed-in user may read it
    fixed = getattr(view, "required_permissions", None)
    if fixed is not None:  # a plain APIView says what it needs
        return tuple(fixed)
    action = getattr(view, "action", None)
    declared: dict[str, tuple[str, ...]] = getattr(view, "action_permissions", {})
    if action in declared:
        return tuple(declared[action])
    model = _model_of(view)
    if model is None:
        return None
    if action in STANDARD_ACTIONS:
        return (model_permission(model, STANDARD_ACTIONS[action]),)
    if action is None and method in ("GET", "HEAD", "OPTIONS"):
        return (model_permission(model, "view"),)  # a plain APIView / generic list
    return None


def _model_of(view: Any) -> type[models.Model] | None:
    queryset = getattr(view, "queryset", None)
    if queryset is None:
        try:
            queryset = view.get_queryset()
        except (AssertionError, AttributeError):
            return None
    return getattr(queryset, "model", None)


class RolePermission(BasePermission):
    message = "You do not have the permission this needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated or not user.is_active:
            return False
        needed = required_permissions(view, request.method or "GET")
        if needed is None:
            return False
        return bool(user.has_perms(needed))
