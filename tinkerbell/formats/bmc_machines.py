"""Rufio's ``Machine`` documents (``bmc.tinkerbell.org/v1alpha1``) into machines' BMCs.

  spec.connection.host                   BMC.address
  spec.connection.port                   BMC.port (0 or missing: the protocol's default)
  spec.connection.insecureTLS            BMC.verify_tls = not insecureTLS
  spec.connection.authSecretRef          username / password from that Secret (same import)
  spec.connection.providerOptions        ipmitool -> protocol ipmi; otherwise redfish

The machine is the one whose Hardware ``spec.bmcRef`` names the Machine (a Hardware in the same
file, or one imported before). Everything else of the document (status, other provider
options) has no place in Rackpilot and is left out, with a note for what matters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError

from inventory import services
from inventory.models import BMC, Machine
from rackpilot.core.actors import Actor
from tinkerbell.formats.documents import (
    RESERVED_KEY,
    Document,
    DocumentProblems,
    ImportContext,
    ImportedObject,
    Step,
    _Reader,
    register_kind,
)
from tinkerbell.formats.references import namespace_of, secret_value

BMC_API_VERSION = "bmc.tinkerbell.org/v1alpha1"


@dataclass
class _BmcPlan:
    hostname: str
    values: dict[str, Any]
    password: str | None


def _owner(doc: Document, context: ImportContext) -> str | None:
    """The hostname of the Hardware whose bmcRef names this Machine."""
    for other in context.documents:
        body = other.body if isinstance(other.body, dict) else {}
        spec = body.get("spec")
        ref = spec.get("bmcRef") if isinstance(spec, dict) else None
        if (
            body.get("kind") == "Hardware"
            and isinstance(ref, dict)
            and ref.get("name") == doc.name
            and ref.get("kind", "Machine") == "Machine"
            and namespace_of(other) in ("", namespace_of(doc))
        ):
            return other.name
    lookup = {f"metadata__{RESERVED_KEY}__spec__bmcRef__name": doc.name}
    machine = Machine.objects.filter(**lookup).order_by("pk").first()
    return machine.hostname if machine is not None else None


def _read(doc: Document, context: ImportContext, r: _Reader) -> _BmcPlan | None:
    spec = r.take(dict(doc.body), "spec", "spec", dict, required=True) or {}
    connection = r.take(dict(spec), "connection", "spec.connection", dict, required=True) or {}
    connection = dict(connection)
    p = "spec.connection"
    host = r.take(connection, "host", f"{p}.host", str, required=True)
    port = r.take(connection, "port", f"{p}.port", int) or None
    insecure = r.take(connection, "insecureTLS", f"{p}.insecureTLS", bool)
    options = r.take(connection, "providerOptions", f"{p}.providerOptions", dict) or {}
    protocol = BMC.Protocol.IPMI if "ipmitool" in options else BMC.Protocol.REDFISH
    secret_ref = r.take(connection, "authSecretRef", f"{p}.authSecretRef", dict) or {}
    username = password = None
    if secret_ref:
        name = secret_ref.get("name")
        secret = (
            context.find("Secret", name, str(secret_ref.get("namespace") or namespace_of(doc)))
            if isinstance(name, str)
            else None
        )
        if secret is None:
            r.error(
                f"{p}.authSecretRef",
                f"no Secret {name!r} in this file: Rackpilot reads the BMC's credentials from "
                "the same import",
            )
        else:
            username = secret_value(secret, "username")
            password = secret_value(secret, "password")
            if username is None or password is None:
                r.error(
                    f"{p}.authSecretRef",
                    f"Secret {name!r} needs base64 data (or stringData) username and password",
                )
    hostname = _owner(doc, context)
    if hostname is None:
        r.error("metadata.name", "no Hardware's spec.bmcRef names this Machine")
    if r.problems or hostname is None or host is None:
        return None
    values = {"protocol": protocol, "address": host, "port": port, "verify_tls": not insecure}
    if username is not None:
        values["username"] = username
    return _BmcPlan(hostname=hostname, values=values, password=password)


def _apply(plan: _BmcPlan, name: str, actor: Actor) -> ImportedObject:
    machine = Machine.objects.filter(hostname=plan.hostname).first()
    if machine is None:  # its Hardware failed; that document says why
        raise DocumentProblems([("metadata.name", f"{plan.hostname!r} was not imported")])
    bmc = BMC.objects.filter(machine=machine).first()
    try:
        if bmc is None:
            services.bmc_create(machine=machine, actor=actor, password=plan.password, **plan.values)
            action = "created"
        else:
            before = {key: getattr(bmc, key) for key in plan.values}
            password = plan.password
            if password is not None and bmc.has_password and bmc.get_password() == password:
                password = None  # the same: no password-changed event
            services.bmc_update(bmc=bmc, actor=actor, password=password, **plan.values)
            action = "unchanged" if before == plan.values and password is None else "updated"
    except ValidationError as exc:
        paths = {"address": "spec.connection.host", "port": "spec.connection.port"}
        items = getattr(exc, "message_dict", {"__all__": exc.messages})
        raise DocumentProblems(
            [(paths.get(f, "spec.connection"), m) for f, msgs in items.items() for m in msgs]
        ) from exc
    return ImportedObject(kind="Machine", name=f"{name} (BMC of {machine.hostname})", action=action)


class BmcMachineKind:
    kind = "Machine"
    api_version = BMC_API_VERSION
    apply_order = 15  # after the Hardware that names it

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        reader = _Reader(warn)
        plan = _read(doc, context, reader)
        if reader.problems or plan is None:
            raise DocumentProblems(reader.problems)
        return partial(_apply, plan, doc.name or "")


register_kind(BmcMachineKind())
