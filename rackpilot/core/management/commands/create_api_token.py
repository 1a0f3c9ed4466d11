"""Issue a REST API token for a user; the key is printed this once and only its digest is kept."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rackpilot.core.actors import Actor
from rackpilot.core.tokens import api_token_id, api_token_issue


class Command(BaseCommand):
    help = (
        "Print a new REST API token for a user (header 'Authorization: Token <key>'). The key "
        "is shown only this once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--ttl-hours",
            type=int,
            default=None,
            help="Lifetime in hours (default: API_TOKEN_TTL_HOURS; 0: never expires).",
        )
        parser.add_argument(
            "--description", default="", help="What the token is for (kept in the event log)."
        )

    def handle(
        self,
        *args: Any,
        username: str,
        ttl_hours: int | None,
        description: str,
        **options: Any,
    ) -> None:
        user_model = get_user_model()
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user named {username}")
        try:
            token, key = api_token_issue(
                user=user,
                actor=Actor.system("create_api_token"),
                description=description,
                ttl_hours=ttl_hours,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        # The key alone on stdout, so that `TOKEN=$(manage.py create_api_token ops)` works.
        self.stdout.write(key)
        expires = f"expires {token.expiry.isoformat()}" if token.expiry else "never expires"
        self.stderr.write(f"API token {api_token_id(token)} for {username}, {expires}")
