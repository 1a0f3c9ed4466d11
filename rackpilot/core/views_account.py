"""Accounts: the signed-in user's own API tokens, and (admins) the users and their roles.

The tokens: issue one with a lifetime (its key shown once), see
them with their expiry, revoke one. Through the token services, as the admin and the command."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from knox.models import AuthToken

from rackpilot.core.access import ROLES, requires
from rackpilot.core.actors import Actor
from rackpilot.core.tokens import (
    DESCRIPTION_MAX_LENGTH,
    TOKEN_ID_LENGTH,
    api_token_id,
    api_token_issue,
    api_token_revoke,
)
from rackpilot.core.users import NO_ROLE, user_create, user_role, user_set_active, user_set_role

LIFETIMES = [(24, "1 day"), (7 * 24, "7 days"), (30 * 24, "30 days"), (90 * 24, "90 days"),
             (365 * 24, "1 year")]  # fmt: skip


class TokenForm(forms.Form):
    description = forms.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, help_text="What the token is for."
    )
    ttl_hours = forms.TypedChoiceField(
        label="Expires after", choices=LIFETIMES, coerce=int, initial=30 * 24
    )


def _page(request: HttpRequest, form: TokenForm, new_key: str = "") -> HttpResponse:
    tokens = AuthToken.objects.filter(user=request.user).order_by("-created")
    rows = [{"id": api_token_id(token), "token": token} for token in tokens]
    response = render(
        request, "core/account_tokens.html", {"form": form, "tokens": rows, "new_key": new_key}
    )
    # The page that shows a key once must not be kept by any cache.
    add_never_cache_headers(response)
    return response


@requires()
def account_tokens(request: HttpRequest) -> HttpResponse:
    actor = Actor.for_user(request.user)
    if request.method != "POST":
        return _page(request, TokenForm())
    if "revoke" in request.POST:
        token_id = request.POST["revoke"][:TOKEN_ID_LENGTH]
        token = AuthToken.objects.filter(user=request.user, digest__startswith=token_id).first()
        if token is None or len(token_id) < TOKEN_ID_LENGTH:
            messages.error(request, f"You have no API token {token_id}.")
        else:
            api_token_revoke(token=token, actor=actor)
            messages.success(request, f"API token {token_id} revoked: it fails from now on.")
        return redirect("account-tokens")
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        _token, key = api_token_issue(
            user=request.user,
            actor=actor,
            description=form.cleaned_data["description"],
            ttl_hours=form.cleaned_data["ttl_hours"],
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _page(request, form)
    return _page(request, TokenForm(), new_key=key)


class UserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(role, role) for role in ROLES] + [(NO_ROLE, "no role")])


def _users_page(request: HttpRequest, form: UserForm, password: str = "", created: str = ""):
    users = get_user_model()._default_manager.prefetch_related("groups").order_by("username")
    rows = [{"user": user, "role": user_role(user)} for user in users]
    context = {
        "form": form,
        "rows": rows,
        "roles": ROLES,
        "password": password,
        "created": created,
        "may_change": request.user.has_perm("auth.change_user"),
    }
    response = render(request, "core/users.html", context)
    add_never_cache_headers(response)
    return response


def _change_user(request: HttpRequest, target: Any, actor: Actor) -> str:
    """A role change or (de)activation of ``target``; the message to show."""
    name = target.get_username()
    if "role" in request.POST:
        role = request.POST["role"]
        user_set_role(user=target, role=role, actor=actor)
        return f"{name} is now {role or 'without a role'}."
    active = request.POST.get("active") == "1"
    user_set_active(user=target, active=active, actor=actor)
    if active:
        return f"{name} may sign in again."
    return f"{name} is deactivated; their API tokens are revoked."


def _create_user(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = UserForm(request.POST)
    if not form.is_valid():
        return _users_page(request, form)
    try:
        user, password = user_create(actor=actor, **form.cleaned_data)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _users_page(request, form)
    return _users_page(request, UserForm(), password=password, created=user.get_username())


@requires("auth.view_user", on_post=("auth.add_user", "auth.change_user"))
def users(request: HttpRequest) -> HttpResponse:
    """Admins: the users, their roles and whether they may sign in."""
    if request.method != "POST":
        return _users_page(request, UserForm())
    actor = Actor.for_user(request.user)
    if "user" not in request.POST:
        return _create_user(request, actor)
    pk = request.POST["user"]
    target = (
        get_user_model()._default_manager.filter(pk=pk).first()
        if pk.isdigit() and len(pk) < 19
        else None
    )
    if target is None:
        messages.error(request, "No such user.")
    else:
        try:
            messages.success(request, _change_user(request, target, actor))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("users")
