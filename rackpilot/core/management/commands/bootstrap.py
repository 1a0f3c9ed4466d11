"""First-run set-up, run by ``make run`` after ``migrate``; safe to run on every start.

- The apps' steps (rackpilot.core.bootstrap): an inventory without machines gets the demo
  fleet (unless ``--no-demo``), the Hook recipes Rackpilot ships are installed once.
- Without any superuser, one is created with a random password and a REST API token (which
  expires after API_TOKEN_TTL_HOURS like every token), both printed once. Later runs say the
  admin exists and never print a password again.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from rackpilot.core.actors import Actor
from rackpilot.core.bootstrap import bootstrap_steps
from rackpilot.core.events import record_event
from rackpilot.core.tokens import api_token_issue


def public_base_url() -> str:
    """Where ``make run`` serves, from the HOST and PORT it is given."""
    host = os.environ.get("HOST", "") or "127.0.0.1"
    port = os.environ.get("PORT", "") or "8000"
    if host in {"0.0.0.0", "::"}:  # listening everywhere: loopback reaches it too
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class Command(BaseCommand):
    help = "Load the demo fleet into an empty inventory and create the first admin user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo fleet.")
        parser.add_argument(
            "--admin-username",
            default="admin",
            help="Username of the superuser to create when none exists (default: admin).",
        )

    def handle(self, *args: Any, no_demo: bool, admin_username: str, **options: Any) -> None:
        actor = Actor.system("bootstrap")
        # Under `make run` the channel layer is not up yet: the events are committed and the
        # publisher logs one line about the missing live updates.
        for step in bootstrap_steps():
            if said := step.run(actor, not no_demo):
                self.stdout.write(said)
        self.ensure_admin(actor, admin_username)

    def ensure_admin(self, actor: Actor, username: str) -> None:
        user_model = get_user_model()
        existing = user_model._default_manager.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            self.stdout.write(
                f"Admin user already exists ({existing.get_username()}); its password is not "
                "shown again (change it with: manage.py changepassword "
                f"{existing.get_username()})."
            )
            return
        if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
            raise CommandError(
                f"User '{username}' exists but is not a superuser; pick another name with "
                "--admin-username or promote it with manage.py createsuperuser."
            )
        password = secrets.token_urlsafe(18)
        try:
            with transaction.atomic():
                user = user_model._default_manager.create_superuser(  # type: ignore[attr-defined]
                    **{user_model.USERNAME_FIELD: username, "email": "", "password": password}
                )
                record_event(
                    actor=actor,
                    verb="user.created",
                    obj=user,
                    message="First superuser, created by bootstrap.",
                )
                _token, key = api_token_issue(
                    user=user, actor=actor, description="First admin's token, issued by bootstrap."
                )
        except IntegrityError:
            # Another bootstrap created it a moment ago; that one printed the password.
            self.stdout.write(f"Admin user already exists ({username}).")
            return
        base = public_base_url()
        rule = "=" * 72
        self.stdout.write(
            "\n".join(
                [
                    rule,
                    " Rackpilot admin account created. The password is shown only this once:",
                    f"   URL:        {base}",
                    f"   Admin site: {base}admin/",
                    f"   Username:   {username}",
                    f"   Password:   {password}",
                    f"   API token:  {key}   (header 'Authorization: Token <key>')",
                    rule,
                ]
            )
        )
