"""``manage.py export_dhcp``: host reservations and PXE boot rules for dnsmasq or Kea."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.models import Site
from netboot.dhcp import RENDERERS, dhcp_interfaces, dhcp_plan, parse_pool


class Command(BaseCommand):
    help = (
        "Write DHCP host reservations and iPXE chainload rules from the inventory, as a "
        "dnsmasq configuration file or a Kea Dhcp4 JSON document (merge interfaces-config "
        "and lease-database yourself)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=sorted(RENDERERS))
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")
        parser.add_argument("--site", metavar="SLUG", help="only machines racked at this site")
        parser.add_argument(
            "--tftp-server",
            metavar="IP",
            help="IPv4 address of the TFTP server holding the iPXE binaries (next-server)",
        )
        parser.add_argument(
            "--discovery-pool",
            metavar="FIRST-LAST",
            action="append",
            default=[],
            help="dynamic addresses for machines the inventory does not know, inside one "
            "exported subnet, so they can netboot into discovery (repeatable)",
        )

    def handle(
        self,
        *args: Any,
        format: str,
        output: str | None,
        site: str | None,
        tftp_server: str | None,
        discovery_pool: list[str],
        **options: Any,
    ) -> None:
        try:
            pools = [parse_pool(text) for text in discovery_pool]
        except ValueError as exc:
            raise CommandError(f"--discovery-pool: {exc}") from None
        if tftp_server is not None:
            try:
                ipaddress.IPv4Address(tftp_server)
            except ValueError:
                # Both servers put it in the next-server field, which holds an address only.
                raise CommandError(
                    f"--tftp-server must be an IPv4 address, not '{tftp_server}'"
                ) from None
        selected_site = None
        if site is not None:
            selected_site = Site.objects.filter(slug=site).first()
            if selected_site is None:
                known = (
                    ", ".join(Site.objects.order_by("slug").values_list("slug", flat=True))
                    or "none"
                )
                raise CommandError(f"unknown site '{site}' (known sites: {known})")
        try:
            plan = dhcp_plan(
                dhcp_interfaces(site=selected_site),
                public_url=settings.RACKPILOT_PUBLIC_URL,
                tftp_server=tftp_server,
                pools=pools,
            )
        except ValueError as exc:
            raise CommandError(f"--discovery-pool: {exc}") from None
        if pools and not settings.NETBOOT_DISCOVERY:
            self.stderr.write(
                "note: NETBOOT_DISCOVERY is off, so machines leasing from the discovery pool "
                "get an address but no boot script"
            )
        for reason in plan.skipped:
            self.stderr.write(f"skipped {reason}")
        text = RENDERERS[format](plan)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc}") from exc
        else:
            self.stdout.write(text, ending="")
