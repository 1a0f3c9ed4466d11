"""Issue an agent token for a machine (for running rackpilot-agent by hand or in tests)."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.models import Machine
from rackpilot.core.actors import Actor
from workflows.agent_protocol.tokens import agent_token_issue


class Command(BaseCommand):
    help = "Print a new agent token for a machine (shown once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--machine", required=True, help="Hostname of the machine.")
        parser.add_argument("--ttl", type=int, default=None, help="Lifetime in seconds.")

    def handle(self, *args: Any, machine: str, ttl: int | None, **options: Any) -> None:
        found = Machine.objects.filter(hostname=machine).first()
        if found is None:
            raise CommandError(f"no machine named {machine}")
        if ttl is not None and ttl <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        token, raw = agent_token_issue(
            machine=found,
            actor=Actor.system("issue_agent_token"),
            ttl=timedelta(seconds=ttl) if ttl else None,
            description="issued on the command line",
        )
        self.stdout.write(raw)
        self.stderr.write(f"expires {token.expires_at.isoformat()}")
