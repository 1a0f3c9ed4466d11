"""Who may do what: the three roles, the permissions of commands, and the one check that pages
and the API share.

Roles are Django groups created by a migration (``rackpilot/core/migrations/0002_roles.py``)
from ``role_permissions`` below: ``viewer`` reads everything but secrets, ``operator`` also runs
commands and edits the inventory, ``admin`` holds every permission. Commands have permissions
of their own (``inventory.power_machine``, ``workflows.run_workflow``...), never a model's
``add_*``: adding a machine and powering the fleet off are different rights.

Permission names here are plain strings: this layer names what the higher apps declare in
their models' ``Meta.permissions``, it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django_htmx.http import HttpResponseClientRedirect

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

# Apps whose objects a viewer reads (every view_* permission of theirs).
READ_APPS = ("core", "inventory", "workflows", "builds", "netboot")

POWER_MACHINE = "inventory.power_machine"
ACCEPT_MACHINE = "inventory.accept_machine"
IMPORT_MACHINES = "inventory.import_machines"
VIEW_SECRETS = "inventory.view_secrets"
RUN_WORKFLOW = "workflows.run_workflow"
RUN_BUILD = "builds.run_build"

# The commands an operator runs, besides editing.
OPERATOR_COMMANDS = (POWER_MACHINE, ACCEPT_MACHINE, IMPORT_MACHINES, RUN_WORKFLOW, RUN_BUILD)
# What an operator may create and change (deleting is the admin's).
OPERATOR_EDITS = {
    "inventory": ("site", "rack", "machine", "networkinterface", "disk", "bmc", "tag"),
    "workflows": ("template",),
    "builds": ("buildrecipe",),
    "netboot": ("discoveryrule",),
}


def role_permissions(role: str, available: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (app_label, codename) pairs of ``available`` that ``role`` holds."""
    pairs = set(available)
    viewer = {
        (app, code)
        for app, code in pairs
        if app in READ_APPS and code.startswith("view_") and code != "view_secrets"
    }
    if role == VIEWER:
        return viewer
    if role == OPERATOR:
        commands = {tuple(name.split(".", 1)) for name in OPERATOR_COMMANDS}
        edits = {
            (app, f"{verb}_{model}")
            for app, models in OPERATOR_EDITS.items()
            for model in models
            for verb in ("add", "change")
        }
        return viewer | ((commands | edits) & pairs)  # type: ignore[operator]
    if role == ADMIN:
        return pairs
    raise ValueError(f"unknown role '{role}'")


def create_role_groups(group_model: Any, permission_model: Any) -> None:
    """Each role's group with its permissions, from the models given (the migration passes its
    historical ones). Adds what is missing; never takes a permission away."""
    by_pair = {
        (p.content_type.app_label, p.codename): p
        for p in permission_model.objects.select_related("content_type")
    }
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(*(by_pair[pair] for pair in role_permissions(role, by_pair)))


def _to_login(request: HttpRequest) -> HttpResponseBase:
    """The login page, and back here after it. An HTMX request (a card refreshing itself, a
    table page) would swap the login form into its fragment: the whole browser page goes to the
    login instead, and back to the page it showed (HTMX follows ``HX-Redirect``)."""
    htmx = getattr(request, "htmx", None)
    if htmx:
        back = htmx.current_url_abs_path or "/"
        return HttpResponseClientRedirect(redirect_to_login(back).url)
    return redirect_to_login(request.get_full_path())


def requires(
    *permissions: str, on_post: tuple[str, ...] = ()
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """A page for signed-in users holding ``permissions`` (and ``on_post`` too for a POST):
    anonymous users are sent to the login page, others without them get 403.

    The permissions are kept on the view (``required_permissions``, ``post_permissions``) so
    the authorization tests can read every page's rule from the URL configuration.
    """

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return _to_login(request)
            needed = permissions + (on_post if request.method == "POST" else ())
            if not user.has_perms(needed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        guarded.required_permissions = permissions  # type: ignore[attr-defined]
        guarded.post_permissions = on_post  # type: ignore[attr-defined]
        return guarded

    return decorate
