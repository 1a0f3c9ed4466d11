"""Two weeks of demo provisioning history, so the overview's charts and the provisioning phases
have something to show on a first ``make run``.

Each run goes through the services a real one goes through — the workflow is created, the
machine's boot leaves its events (power command, iPXE script, kernel, initrd), its agent says
hello with a hardware report and reports every action — and the machine is deprovisioned back to
ready afterwards. Then the run's rows are moved back in time to the day and hour it stands for,
with durations typical of each hardware model (power-on self-test times differ by minutes).
Every event of the history is recorded by the "demo" actor or the demo agents, so nobody takes
it for a real fleet; ``bootstrap --no-demo`` loads none of it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.models import Event
from workflows.agent_protocol.services import ActionReport, agent_hello, agent_report_action
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, AgentToken, Template, Workflow
from workflows.services.engine import workflow_create
from workflows.states import ActionState

HISTORY_DAYS = 14
RUNS_PER_DAY = (1, 4)
HISTORY_SEED = 20261206
DEMO = Actor.system("demo")
HISTORY_MARKER = "demo history"

# Plan slug of the demo fleet -> (vendor, product) as DMI reports them, and the seconds from a
# power command to the iPXE script (firmware POST, PXE ROM, DHCP) typical of that model.
PRODUCTS: dict[str, tuple[str, str, int]] = {
    "c3.small.x86": ("Supermicro", "SYS-510T-MR", 70),
    "m3.large.x86": ("Dell Inc.", "PowerEdge R650", 150),
    "s3.xlarge.x86": ("Supermicro", "SSG-620P-ACR12H", 110),
    "g3.large.x86": ("GIGABYTE", "G292-Z20", 185),
    "c2.medium.x86": ("Dell Inc.", "PowerEdge R6515", 135),
}
DEFAULT_PRODUCT = ("Generic", "x86 server", 90)
FAILURE_SHARE = 0.12


@dataclass(frozen=True)
class Timing:
    created: datetime
    power: datetime
    script: datetime
    kernel: datetime
    initrd: datetime
    agent: datetime
    actions: list[tuple[datetime, datetime]]

    @property
    def finished(self) -> datetime:
        return self.actions[-1][1]


def _product(machine: Machine) -> tuple[str, str, int]:
    plan = (machine.metadata.get("facility") or {}).get("plan_slug", "")
    return PRODUCTS.get(plan, DEFAULT_PRODUCT)


def _timing(rng: random.Random, start: datetime, post_seconds: int, actions: int) -> Timing:
    def after(moment: datetime, low: float, high: float) -> datetime:
        return moment + timedelta(seconds=rng.uniform(low, high))

    power = after(start, 0.5, 2)
    script = after(power, post_seconds * 0.85, post_seconds * 1.3)
    kernel = after(script, 0.5, 1.5)
    initrd = after(kernel, 1.5, 4)
    agent = after(initrd, 18, 40)
    spans = []
    begin = after(agent, 2, 5)
    for index in range(actions):
        # The image write dominates; the small actions take seconds.
        low, high = (140, 420) if index == 0 else (2, 8)
        end = after(begin, low, high)
        spans.append((begin, end))
        begin = after(end, 0.3, 1.2)
    return Timing(start, power, script, kernel, initrd, agent, spans)


def _boot(machine: Machine, token_mac: str, product: tuple[str, str, int]) -> AgentToken:
    """The events a netboot leaves, and the agent's hello with its DMI report."""
    for verb in ("power.requested", "netboot.script_served"):
        record_event(actor=DEMO, verb=verb, obj=machine, machine=machine, message=HISTORY_MARKER)
    for verb, artifact in (
        ("netboot.kernel_fetched", "vmlinuz-x86_64"),
        ("netboot.initrd_fetched", "initramfs-x86_64"),
    ):
        record_event(
            actor=DEMO,
            verb=verb,
            obj=machine,
            machine=machine,
            changes={"artifact": artifact},
            message=HISTORY_MARKER,
        )
    vendor, name, _ = product
    token, _ = agent_token_issue(machine=machine, actor=DEMO)
    hardware = {**machine.hardware, "dmi": {"sys_vendor": vendor, "product_name": name}}
    agent_hello(token=token, worker_id=token_mac, hardware=hardware)
    return token


def _report(token: AgentToken, action: Action, *, fail: bool) -> None:
    agent_report_action(
        token=token, report=ActionReport(action_id=action.pk, attempt=1, state=ActionState.RUNNING)
    )
    agent_report_action(
        token=token,
        report=ActionReport(
            action_id=action.pk,
            attempt=1,
            state=ActionState.FAILED if fail else ActionState.SUCCESS,
            exit_code=1 if fail else 0,
            message="image2disk: unexpected EOF (the image server closed the connection)"
            if fail
            else "",
        ),
    )


def _back_to_ready(machine: Machine) -> None:
    machine.refresh_from_db()
    paths: dict[str, Sequence[str]] = {
        MachineState.PROVISIONED: (MachineState.DEPROVISIONING, MachineState.READY),
        MachineState.FAILED: (MachineState.READY,),
    }
    path = paths.get(machine.state, ())
    for target in path:
        inventory_services.machine_transition(
            machine=machine, actor=DEMO, target=target, reason=HISTORY_MARKER
        )


def _move_back(workflow: Workflow, first_event_id: int, timing: Timing) -> None:
    """Put the run's rows at the moments ``timing`` gives (demo data only)."""
    actions = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
    for action, (begin, end) in zip(actions, timing.actions, strict=False):
        if action.started_at is not None:
            Action.objects.filter(pk=action.pk).update(
                started_at=begin,
                finished_at=end,
                agent_started_at=begin,
                agent_finished_at=end,
            )
    ran = [span for action, span in zip(actions, timing.actions, strict=False) if action.started_at]
    finished = ran[-1][1] if ran else timing.agent
    Workflow.objects.filter(pk=workflow.pk).update(
        created_at=timing.created,
        started_at=ran[0][0] if ran else None,
        finished_at=finished,
        updated_at=finished,
    )
    at_verb = {
        "workflow.created": timing.created,
        "agent_token.issued": timing.created,
        "power.requested": timing.power,
        "netboot.script_served": timing.script,
        "netboot.kernel_fetched": timing.kernel,
        "netboot.initrd_fetched": timing.initrd,
        "agent.connected": timing.agent,
        "machine.hardware_reported": timing.agent,
        "workflow.started": ran[0][0] if ran else timing.agent,
    }
    events = Event.objects.filter(pk__gt=first_event_id, machine=workflow.machine_id)
    for event_id, verb in events.values_list("id", "verb"):
        Event.objects.filter(pk=event_id).update(timestamp=at_verb.get(verb, finished))
    Event.objects.filter(pk__gt=first_event_id, machine__isnull=True).update(timestamp=finished)


def _candidates() -> list[Machine]:
    return list(
        Machine.objects.filter(
            state=MachineState.READY,
            arch=Machine.Arch.X86_64,
            allow_workflow=True,
            disks__isnull=False,
            interfaces__is_boot=True,
        )
        .distinct()
        .order_by("hostname")
    )


def load_demo_history(actor: Actor, demo: bool, *, now: datetime | None = None) -> str | None:
    """bootstrap's step: finished workflows over the last two weeks, once."""
    if not demo or Event.objects.filter(message=HISTORY_MARKER).exists():
        return None
    templates = list(Template.objects.filter(name__in=("ubuntu-22.04", "wipe-disks")))
    machines = _candidates()
    if not templates or not machines:
        return None
    rng = random.Random(HISTORY_SEED)
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = 0
    with transaction.atomic():
        for days_ago in range(HISTORY_DAYS, 0, -1):
            day = today - timedelta(days=days_ago)
            starts = sorted(
                day + timedelta(hours=rng.uniform(7, 19)) for _ in range(rng.randint(*RUNS_PER_DAY))
            )
            for start in starts:
                machine = machines[runs % len(machines)]
                template = templates[0] if rng.random() < 0.8 else templates[-1]
                _one_run(rng, machine, template, start)
                runs += 1
    return f"Loaded {runs} demo workflows over the last {HISTORY_DAYS} days (charts, phases)."


def _one_run(rng: random.Random, machine: Machine, template: Template, start: datetime) -> None:
    first_event_id = Event.objects.aggregate(last=Max("id"))["last"] or 0
    boot_mac = machine.interfaces.filter(is_boot=True).values_list("mac", flat=True).first()
    product = _product(machine)
    workflow = workflow_create(template=template, machine=machine, actor=DEMO)
    token = _boot(machine, str(boot_mac), product)
    actions = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
    fail = rng.random() < FAILURE_SHARE
    for index, action in enumerate(actions):
        failing = fail and index == 0
        _report(token, action, fail=failing)
        if failing:
            break
    _back_to_ready(machine)
    _move_back(workflow, first_event_id, _timing(rng, start, product[2], len(actions)))
