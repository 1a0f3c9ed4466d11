"""Discovery rules: "machines whose reported hardware matches these conditions get this
template" — the first enabled rule (by priority) that matches a newly discovered machine
accepts it and starts a workflow from its template."""

from __future__ import annotations

from django.db import models

from netboot.rules import Condition, parse_conditions


class DiscoveryRule(models.Model):
    name = models.CharField(
        max_length=100,
        unique=True,
        error_messages={"unique": "A discovery rule with this name already exists."},
    )
    description = models.TextField(blank=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Rules are tried in ascending priority; the first match wins."
    )
    enabled = models.BooleanField(default=True)
    conditions = models.TextField(
        blank=True,
        help_text="One condition per line, all must hold, e.g. 'dmi.sys_vendor = Dell Inc.', "
        "'memory_bytes >= 64G', 'disks.count >= 2', 'mac ~ ^52:54:00'. Empty matches every "
        "machine.",
    )
    template = models.ForeignKey(
        "workflows.Template", on_delete=models.PROTECT, related_name="discovery_rules"
    )
    disable_pxe_on_success = models.BooleanField(
        default=False, help_text="Turn allow_pxe off when the rule's workflow succeeds."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        parse_conditions(self.conditions)

    def parsed_conditions(self) -> list[Condition]:
        return parse_conditions(self.conditions)
