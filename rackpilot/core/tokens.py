"""REST API tokens: issued for a user, stored as a digest only, each with an expiry.

The tokens are django-rest-knox's: ``knox.auth.TokenAuthentication`` reads
``Authorization: Token <key>``, finds the candidates by the key's first characters, compares
SHA-512 digests and refuses (401) a token past its expiry. A revoked token is a deleted row,
so it fails on the very next request. The key itself exists only in the return value of
``api_token_issue``: it is in no column, event or log.

knox's token model has no description column; the description is kept in the ``issued``
event, next to the token's id (the first characters of its digest, which the admin shows too).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from knox.models import AuthToken

from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event

TOKEN_ID_LENGTH = 12
DESCRIPTION_MAX_LENGTH = 200


def api_token_id(token: AuthToken) -> str:
    """A short handle for a token in events and the admin (part of the digest, not the key)."""
    return token.digest[:TOKEN_ID_LENGTH]


def api_token_lifetime(*, ttl_hours: int | None = None) -> timedelta | None:
    """``ttl_hours``, else ``API_TOKEN_TTL_HOURS``, as a lifetime; ``None`` (0 hours) is never."""
    hours = settings.API_TOKEN_TTL_HOURS if ttl_hours is None else ttl_hours
    if hours < 0:
        raise ValidationError({"ttl_hours": "A lifetime is 0 (never expires) or more hours."})
    return timedelta(hours=hours) if hours else None


@transaction.atomic
def api_token_issue(
    *,
    user: Any,
    actor: Actor,
    description: str = "",
    ttl_hours: int | None = None,
) -> tuple[AuthToken, str]:
    """A new API token for ``user``; the key is returned this once and only its digest is kept.

    ``ttl_hours`` defaults to ``API_TOKEN_TTL_HOURS``; ``0`` issues a token that never expires.
    """
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(
            {"description": f"At most {DESCRIPTION_MAX_LENGTH} characters, please."}
        )
    if not user.is_active:
        raise ValidationError({"user": f"{user.get_username()} is inactive; it cannot sign in."})
    token, key = AuthToken.objects.create(user=user, expiry=api_token_lifetime(ttl_hours=ttl_hours))
    expires = f"expires {token.expiry.isoformat()}" if token.expiry else "never expires"
    record_event(
        actor=actor,
        verb="api_token.issued",
        obj=user,
        changes={"token_id": [None, api_token_id(token)], "expiry": [None, token.expiry]},
        message=f"API token {api_token_id(token)}, {expires}"
        + (f": {description}" if description else ""),
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: AuthToken, actor: Actor) -> bool:
    """Deletes the token, so it fails from the next request on; False if it was already gone."""
    deleted, _ = AuthToken.objects.filter(pk=token.pk).delete()
    if deleted:
        record_event(
            actor=actor,
            verb="api_token.revoked",
            obj=token.user,
            message=f"API token {api_token_id(token)} revoked",
        )
    return bool(deleted)
