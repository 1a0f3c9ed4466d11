"""The signed-in user's own API tokens: issue one with a lifetime (its key shown once), see
them with their expiry, revoke one. Through the token services, as the admin and the command."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from knox.models import AuthToken

from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.tokens import (
    DESCRIPTION_MAX_LENGTH,
    TOKEN_ID_LENGTH,
    api_token_id,
    api_token_issue,
    api_token_revoke,
)

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
