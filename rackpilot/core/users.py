"""Users and their roles, as admins manage them from the dashboard: every change an event.

A user holds at most one role (the groups ``viewer``, ``operator``, ``admin`` of
``rackpilot.core.access``); superusers hold every permission whatever their groups and are
managed in the Django admin. Deactivating a user also revokes their API tokens, so nothing they
left running keeps acting for them.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from knox.models import AuthToken

from rackpilot.core.access import ROLES
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.services import lock

NO_ROLE = ""


def user_role(user: Any) -> str:
    """The user's role, ``superuser``, or "" (signed in, may see nothing)."""
    if user.is_superuser:
        return "superuser"
    names = {group.name for group in user.groups.all()}
    return next((role for role in reversed(ROLES) if role in names), NO_ROLE)


def _check_role(role: str) -> None:
    if role not in (*ROLES, NO_ROLE):
        raise ValidationError({"role": f"'{role}' is not a role (one of {', '.join(ROLES)})."})


def _set_groups(user: Any, role: str) -> None:
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role:
        user.groups.add(Group.objects.get(name=role))


@transaction.atomic
def user_create(*, username: str, email: str, role: str, actor: Actor) -> tuple[Any, str]:
    """A new user with a generated password, returned this once."""
    username = username.strip()
    user_model = get_user_model()
    if not username:
        raise ValidationError({"username": "A user needs a name."})
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise ValidationError({"username": exc.messages}) from exc
    if user_model._default_manager.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"A user named {username} exists."})
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from exc
    _check_role(role)
    password = secrets.token_urlsafe(15)
    user = user_model._default_manager.create_user(  # type: ignore[attr-defined]
        username=username, email=email, password=password
    )
    _set_groups(user, role)
    record_event(actor=actor, verb="user.created", obj=user, changes={"role": [None, role or None]})
    return user, password


@transaction.atomic
def user_set_role(*, user: Any, role: str, actor: Actor) -> Any:
    _check_role(role)
    user = lock(user)
    if user.is_superuser:
        raise ValidationError({"role": f"{user.get_username()} is a superuser: use the admin."})
    before = user_role(user)
    if before == role:
        return user
    _set_groups(user, role)
    record_event(
        actor=actor,
        verb="user.role_changed",
        obj=user,
        changes={"role": [before or None, role or None]},
    )
    return user


@transaction.atomic
def user_set_active(*, user: Any, active: bool, actor: Actor) -> Any:
    user = lock(user)
    if not active and actor.user_id == user.pk:
        raise ValidationError({"is_active": "You cannot deactivate yourself."})
    if user.is_active == active:
        return user
    user.is_active = active
    user.save(update_fields=["is_active"])
    revoked = 0 if active else AuthToken.objects.filter(user=user).delete()[0]
    record_event(
        actor=actor,
        verb="user.activated" if active else "user.deactivated",
        obj=user,
        changes={"is_active": [not active, active]},
        message=f"{revoked} API token(s) revoked" if revoked else "",
    )
    return user
