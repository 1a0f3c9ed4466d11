"""Bulk import of machines from CSV: all rows or none, with every bad row reported."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory import services
from inventory.models import Machine, Rack
from rackpilot.core.actors import Actor

REQUIRED_COLUMNS = ("hostname",)
KNOWN_COLUMNS = (
    "hostname",
    "site",
    "rack",
    "position",
    "u_height",
    "face",
    "arch",
    "uefi",
    "state",
    "serial_number",
    "description",
    "tags",
    "allow_pxe",
    "allow_workflow",
    "interface",
    "mac",
    "ip",
    "netmask",
    "gateway",
    "vlan_id",
    "nameservers",
    "bmc_protocol",
    "bmc_address",
    "bmc_port",
    "bmc_username",
    "bmc_password",
    "bmc_verify_tls",
)
TRUE_WORDS = {"1", "true", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off"}
MAX_ROWS = 10_000


@dataclass
class RowError:
    row: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class CSVImportError(Exception):
    """The import was refused; nothing was written. ``errors`` lists every problem found."""

    def __init__(self, errors: list[RowError]):
        self.errors = [e.as_dict() for e in errors]
        super().__init__(f"{len(errors)} problem(s) in the CSV; nothing was imported")


class _Rollback(Exception):
    pass


def _bool(value: str, field: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError({field: f"'{value}' is not a yes/no value (use true or false)."})


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValidationError({field: f"'{value}' is not a whole number."}) from None


def _rack(site: str, name: str) -> Rack:
    racks = Rack.objects.select_related("site").filter(name=name)
    if site:
        racks = racks.filter(site__slug=site) | racks.filter(site__name=site)
    found = list(racks[:2])
    if not found:
        where = f" in site '{site}'" if site else ""
        raise ValidationError({"rack": f"Unknown rack '{name}'{where}."})
    if len(found) > 1:
        raise ValidationError(
            {"rack": f"Rack name '{name}' exists in several sites; add a site column."}
        )
    return found[0]


def _import_row(row: dict[str, str], actor: Actor) -> Machine:
    get = lambda key: (row.get(key) or "").strip()  # noqa: E731
    machine_values: dict[str, Any] = {"hostname": get("hostname")}
    if get("rack"):
        machine_values["rack"] = _rack(get("site"), get("rack"))
    elif get("site"):
        raise ValidationError({"rack": "A site was given without a rack."})
    for field in ("position", "u_height"):
        if get(field):
            machine_values[field] = _int(get(field), field)
    for field in ("face", "arch", "serial_number", "description"):
        if get(field):
            machine_values[field] = get(field)
    for field in ("uefi", "allow_pxe", "allow_workflow"):
        if get(field):
            machine_values[field] = _bool(get(field), field)
    tags = [t.strip() for t in get("tags").replace(",", ";").split(";") if t.strip()]
    machine = services.machine_create(
        actor=actor, state=get("state") or Machine.State.READY, tags=tags, **machine_values
    )
    if get("mac"):
        nic: dict[str, Any] = {"mac": get("mac"), "name": get("interface")}
        for field in ("ip", "netmask", "gateway"):
            if get(field):
                nic[field] = get(field)
        if get("vlan_id"):
            nic["vlan_id"] = _int(get("vlan_id"), "vlan_id")
        if get("nameservers"):
            nic["nameservers"] = [n.strip() for n in get("nameservers").split(";") if n.strip()]
        with _columns({"name": "interface"}):
            services.interface_create(machine=machine, actor=actor, **nic)
    elif any(get(f) for f in ("ip", "netmask", "gateway", "vlan_id", "interface")):
        raise ValidationError({"mac": "Interface columns were given without a MAC address."})
    if get("bmc_address"):
        bmc: dict[str, Any] = {"address": get("bmc_address"), "username": get("bmc_username")}
        if get("bmc_protocol"):
            bmc["protocol"] = get("bmc_protocol").lower()
        if get("bmc_port"):
            bmc["port"] = _int(get("bmc_port"), "bmc_port")
        if get("bmc_verify_tls"):
            bmc["verify_tls"] = _bool(get("bmc_verify_tls"), "bmc_verify_tls")
        with _columns({f: f"bmc_{f}" for f in ("address", "username", "protocol", "port")}):
            services.bmc_create(
                machine=machine, actor=actor, password=get("bmc_password") or None, **bmc
            )
    return machine


@contextmanager
def _columns(renames: dict[str, str]) -> Iterator[None]:
    """Report a service's field errors under the CSV column names."""
    try:
        yield
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {renames.get(field, field): errors for field, errors in exc.message_dict.items()}
        ) from exc


def _errors_of(exc: ValidationError, row: int) -> list[RowError]:
    if hasattr(exc, "error_dict"):
        return [
            RowError(row, None if field == "__all__" else field, message)
            for field, errors in exc.message_dict.items()
            for message in errors
        ]
    return [RowError(row, None, message) for message in exc.messages]


def machines_import_csv(*, text: str, actor: Actor) -> list[Machine]:
    """Create one machine (with its boot interface and BMC) per row, or nothing at all."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    problems: list[RowError] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in KNOWN_COLUMNS]
    if missing:
        problems.append(RowError(1, missing[0], f"Missing required column '{missing[0]}'."))
    problems.extend(RowError(1, c, f"Unknown column '{c}'.") for c in unknown)
    if problems:
        raise CSVImportError(problems)

    created: list[Machine] = []
    try:
        with transaction.atomic():
            for count, row in enumerate(reader, start=1):
                line = reader.line_num
                if count > MAX_ROWS:
                    problems.append(RowError(line, None, f"More than {MAX_ROWS} rows."))
                    break
                if None in row:
                    problems.append(RowError(line, None, "More values than columns."))
                    continue
                try:
                    with transaction.atomic():
                        created.append(_import_row(row, actor))
                except ValidationError as exc:
                    problems.extend(_errors_of(exc, line))
            if not created and not problems:
                problems.append(RowError(None, None, "The CSV has no data rows."))
            if problems:
                raise _Rollback
    except _Rollback:
        raise CSVImportError(problems) from None
    return created
