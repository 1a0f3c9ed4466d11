"""Dashboard pages of discovery: the machines waiting to be accepted, accepting one, and the
rules that accept them by themselves.

Thin views: reads through selectors, every write through a service. Rule matching runs in
Python over rows already fetched, so a page makes as many queries for 1 machine as for 50.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.filtersets import MachineFilterSet
from inventory.models import Machine
from inventory.states import MachineState
from netboot import discovery, selectors
from netboot.forms import DiscoveryRuleForm, MachineAcceptForm
from netboot.models import DiscoveryRule
from netboot.rules import Condition, all_hold
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.forms import save_through_service
from rackpilot.core.json_shapes import as_object
from rackpilot.core.listing import list_page
from rackpilot.core.pages import form_status

DISCOVERED_ORDERINGS = {
    "hostname": ("hostname",),
    "arch": ("arch", "hostname"),
    "seen": ("last_seen",),
    "discovered": ("created_at",),
}
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# Agents report CPU models like "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz": the table keeps
# a readable prefix, the full text is in the cell's title.
CPU_MODEL_LENGTH = 40


def binary_size(size_bytes: int | None) -> str:
    """Memory is counted in powers of two: 16 GiB, 1.5 TiB."""
    if size_bytes is None:
        return "—"
    size, index = float(size_bytes), 0
    while size >= 1024 and index < len(BINARY_UNITS) - 1:
        size /= 1024
        index += 1
    return (
        f"{size:.0f} {BINARY_UNITS[index]}"
        if size >= 100 or index == 0
        else f"{size:.3g} {BINARY_UNITS[index]}"
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# --- rules as the pages use them --------------------------------------------------------------


@dataclass(frozen=True)
class CheckedRule:
    """A rule with its conditions parsed once per request, or why they cannot be."""

    rule: DiscoveryRule
    conditions: list[Condition]
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.rule.enabled and not self.problem


def checked_rules(rules: Sequence[DiscoveryRule]) -> list[CheckedRule]:
    checked = []
    for rule in rules:
        try:
            checked.append(CheckedRule(rule, rule.parsed_conditions()))
        except ValidationError as exc:
            # The service refuses bad conditions; rows written some other way are shown, not
            # fatal to the page.
            checked.append(CheckedRule(rule, [], problem="; ".join(exc.messages)))
    return checked


def first_matching_rule(
    rules: Sequence[CheckedRule], attributes: dict[str, Any]
) -> DiscoveryRule | None:
    """The rule discovery would apply: the first enabled one, by priority, that holds."""
    for checked in rules:
        if checked.usable and all_hold(checked.conditions, attributes):
            return checked.rule
    return None


# --- discovered machines ----------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredRow:
    machine: Machine
    boot_mac: str
    cpu_model: str
    cpu_counts: str
    memory: str
    disk_count: int
    disk_bytes: int | None
    nic_count: int
    matching_rule: DiscoveryRule | None


def discovered_row(machine: Machine, rules: Sequence[CheckedRule]) -> DiscoveredRow:
    """What the tables show of a discovered machine, from its prefetched NICs and disks and
    the hardware its agent reported (untrusted JSON: anything odd is shown as unknown)."""
    hardware = as_object(machine.hardware)
    cpu = as_object(hardware.get("cpu"))
    model = cpu.get("model")
    cores, threads = _count(cpu.get("cores")), _count(cpu.get("threads"))
    counts = [f"{cores} cores" if cores else "", f"{threads} threads" if threads else ""]
    interfaces = list(machine.interfaces.all())
    disks = list(machine.disks.all())
    sizes = [disk.size_bytes for disk in disks if disk.size_bytes is not None]
    return DiscoveredRow(
        machine=machine,
        boot_mac=next((nic.mac for nic in interfaces if nic.is_boot), ""),
        cpu_model=model.strip() if isinstance(model, str) else "",
        cpu_counts=" / ".join(text for text in counts if text),
        memory=binary_size(_count(hardware.get("memory_bytes"))),
        disk_count=len(disks),
        disk_bytes=sum(sizes) if sizes else None,
        nic_count=len(interfaces),
        matching_rule=first_matching_rule(rules, discovery.rule_attributes(machine)),
    )


@requires("inventory.view_machine", "netboot.view_discoveryrule")
def discovery_overview(request: HttpRequest) -> HttpResponse:
    """Discovered machines (filtered, sorted, paged like the other list pages) and the rules."""
    filterset = MachineFilterSet(request.GET, queryset=selectors.discovered_machines())
    rules = checked_rules(list(selectors.discovery_rule_list()))
    return list_page(
        request,
        filterset=filterset,
        orderings=DISCOVERED_ORDERINGS,
        template="netboot/discovery.html",
        partial="netboot/partials/discovered_table.html",
        extra={"rules": rules, "discovery_on": settings.NETBOOT_DISCOVERY},
        per_page=lambda page: {"rows": [discovered_row(machine, rules) for machine in page]},
    )


@requires(access.ACCEPT_MACHINE)
def machine_accept(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(inventory_selectors.machine_list(), pk=pk)
    if machine.state != MachineState.DISCOVERED:
        messages.info(
            request,
            f"{machine.hostname} is {machine.get_state_display().lower()}: only a discovered "
            "machine is accepted.",
        )
        return redirect("dashboard:machine-detail", pk=pk)
    initial = MachineAcceptForm.initial_for(machine)
    form = MachineAcceptForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":

        def accept(**values: Any) -> Machine:
            return inventory_services.machine_accept(machine=machine, **values)

        try:
            accepted = save_through_service(request, form, accept)
        except ConflictError as exc:
            # Accepted meanwhile (by a rule or another operator): its page says how it is now.
            messages.error(request, str(exc))
            return redirect("dashboard:machine-detail", pk=pk)
        if accepted is not None:
            messages.success(request, f"{accepted.hostname} accepted into the fleet: it is ready.")
            return redirect("dashboard:machine-detail", pk=pk)
    form.mark_invalid()
    rules = checked_rules(list(selectors.discovery_rule_list()))
    context = {"machine": machine, "form": form, "row": discovered_row(machine, rules)}
    return render(request, "netboot/machine_accept.html", context, status=form_status(form))


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionTally:
    condition: Condition
    holding: int


@dataclass(frozen=True)
class DryRunRow:
    row: DiscoveredRow
    failing: list[Condition]


def dry_run(rule: DiscoveryRule, conditions: list[Condition]) -> dict[str, Any]:
    """The discovered machines ``rule`` matches now, and what stops the others."""
    rules = checked_rules(list(selectors.discovery_rule_list()))
    matching: list[DryRunRow] = []
    missing: list[DryRunRow] = []
    holding = [0] * len(conditions)
    for machine in selectors.discovered_machines():
        attributes = discovery.rule_attributes(machine)
        failing = []
        for index, condition in enumerate(conditions):
            if condition.holds(attributes):
                holding[index] += 1
            else:
                failing.append(condition)
        target = missing if failing else matching
        target.append(DryRunRow(discovered_row(machine, rules), failing))
    return {
        "matching": matching,
        "missing": missing,
        "examined": len(matching) + len(missing),
        "tallies": [ConditionTally(c, n) for c, n in zip(conditions, holding, strict=True)],
    }


@requires("netboot.view_discoveryrule")
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(selectors.discovery_rule_list(), pk=pk)
    [checked] = checked_rules([rule])
    context: dict[str, Any] = {"rule": rule, "problem": checked.problem}
    if not checked.problem:
        context.update(dry_run(rule, checked.conditions))
    return render(request, "netboot/rule_detail.html", context)


def _rule_form_page(
    request: HttpRequest, form: DiscoveryRuleForm, rule: DiscoveryRule | None
) -> HttpResponse:
    form.mark_invalid()
    context = {"form": form, "rule": rule}
    return render(request, "netboot/rule_form.html", context, status=form_status(form))


@requires("netboot.add_discoveryrule")
def rule_create(request: HttpRequest) -> HttpResponse:
    form = DiscoveryRuleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        rule = save_through_service(request, form, discovery.discovery_rule_create)
        if rule is not None:
            messages.success(request, f"Discovery rule {rule.name} created.")
            return redirect("discovery:rule-detail", pk=rule.pk)
    return _rule_form_page(request, form, rule=None)


@requires("netboot.change_discoveryrule")
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(DiscoveryRule, pk=pk)
    initial = {
        name: getattr(rule, name) for name in DiscoveryRuleForm.base_fields if name != "template"
    }
    initial["template"] = rule.template_id
    form = DiscoveryRuleForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":

        def update(**values: Any) -> DiscoveryRule:
            return discovery.discovery_rule_update(rule=rule, **values)

        saved = save_through_service(request, form, update)
        if saved is not None:
            messages.success(request, f"Discovery rule {saved.name} saved.")
            return redirect("discovery:rule-detail", pk=saved.pk)
    return _rule_form_page(request, form, rule=rule)


@requires("netboot.delete_discoveryrule")
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(selectors.discovery_rule_list(), pk=pk)
    if request.method == "POST":
        try:
            discovery.discovery_rule_delete(rule=rule, actor=Actor.for_user(request.user))
        except ValidationError as exc:
            messages.error(request, f"Discovery rule not deleted: {' '.join(exc.messages)}")
            return redirect("discovery:rule-detail", pk=pk)
        messages.success(request, f"Discovery rule {rule.name} deleted.")
        return redirect("discovery:overview")
    return render(request, "netboot/rule_confirm_delete.html", {"rule": rule})


@requires(access.ACCEPT_MACHINE, access.RUN_WORKFLOW)
def rule_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the rule over the machines already waiting (POST only; the detail page's dry run
    shows which first)."""
    rule = get_object_or_404(selectors.discovery_rule_list(), pk=pk)
    if request.method != "POST":
        return redirect("discovery:rule-detail", pk=pk)
    try:
        run = discovery.discovery_rule_apply_now(rule=rule, actor=Actor.for_user(request.user))
    except ValidationError as exc:
        messages.error(request, f"Rule {rule.name} not run: {' '.join(exc.messages)}")
        return redirect("discovery:rule-detail", pk=pk)
    started = len(run.started)
    messages.success(
        request,
        f"{rule.name}: {started} machine{'s' if started != 1 else ''} accepted, "
        f"{started} workflow{'s' if started != 1 else ''} started.",
    )
    if run.failed:
        names = ", ".join(m.hostname for m in run.failed)
        messages.warning(
            request, f"Not started on {names}: their timelines say why; they stay discovered."
        )
    return redirect("discovery:rule-detail", pk=pk)
