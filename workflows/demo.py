"""Demo templates and finished workflows, so that a first ``make run`` shows what Rackpilot does.

Templates in the shapes Tinkerbell users know (image2disk + writefile + kexec, a disk wipe),
then two workflows run through the same agent services a real agent reports through: one that
succeeded with the log lines of each action, one that failed in image2disk with its reason and
last lines. Loaded by ``bootstrap`` (unless ``--no-demo``) once the demo fleet is there; a
second run finds the templates and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from workflows.agent_protocol.logs import agent_upload_logs
from workflows.agent_protocol.services import ActionReport, agent_report_action
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, Template, Workflow
from workflows.services.engine import workflow_create
from workflows.services.templates import template_create
from workflows.states import ActionState

ACTIONS = "quay.io/tinkerbell/actions"
UBUNTU = f"""version: "0.1"
name: ubuntu-22.04
global_timeout: 1800
tasks:
  - name: os-installation
    worker: "{{{{.device_1}}}}"
    volumes:
      - /dev:/dev
      - /dev/console:/dev/console
      - /lib/firmware:/lib/firmware:ro
    actions:
      - name: stream-ubuntu-image
        image: {ACTIONS}/image2disk:latest
        timeout: 900
        environment:
          DEST_DISK: {{{{ index .Hardware.Disks 0 }}}}
          IMG_URL: http://10.10.0.5:8080/images/ubuntu-22.04-server-cloudimg-amd64.raw.gz
          COMPRESSED: true
      - name: write-netplan
        image: {ACTIONS}/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: {{{{ formatPartition (index .Hardware.Disks 0) 1 }}}}
          FS_TYPE: ext4
          DEST_PATH: /etc/netplan/config.yaml
          CONTENTS: |
            network:
              version: 2
              ethernets:
                id0:
                  match:
                    name: en*
                  dhcp4: true
          UID: 0
          GID: 0
          MODE: 0644
          DIRMODE: 0755
      - name: kexec-ubuntu
        image: {ACTIONS}/kexec:latest
        timeout: 90
        pid: host
        environment:
          BLOCK_DEVICE: {{{{ formatPartition (index .Hardware.Disks 0) 1 }}}}
          FS_TYPE: ext4
"""
WIPE = f"""version: "0.1"
name: wipe-disks
global_timeout: 600
tasks:
  - name: deprovision
    worker: "{{{{.device_1}}}}"
    volumes:
      - /dev:/dev
    actions:
      - name: wipe-first-disk
        image: {ACTIONS}/erase:latest
        timeout: 300
        environment:
          DEST_DISK: {{{{ index .Hardware.Disks 0 }}}}
"""
TEMPLATES = {"ubuntu-22.04": UBUNTU, "wipe-disks": WIPE}


@dataclass(frozen=True)
class ActionRun:
    """What the demo agent does with one action: print ``lines``, then end as told."""

    lines: Sequence[str]
    exit_code: int = 0
    message: str = ""


def _image_lines(disk: str, total_mb: int, stop_at: int | None = None) -> list[str]:
    lines = [
        f"Beginning write of image [ubuntu-22.04-server-cloudimg-amd64.raw.gz] to disk [{disk}]",
        "image is gzip compressed, streaming through the decompressor",
    ]
    for done in range(256, total_mb + 1, 256):
        if stop_at is not None and done > stop_at:
            break
        lines.append(f"{done} MB written ({100 * done // total_mb}%)")
    return lines


def _success_runs(disk: str) -> list[ActionRun]:
    return [
        ActionRun(
            [
                *_image_lines(disk, 2304),
                f"Successfully written [2304 MB] to [{disk}]",
                "syncing the disk",
                "done",
            ]
        ),
        ActionRun(
            [
                f"Mounting [{disk}p1] as [ext4] at [/mountAction]",
                "Writing [/etc/netplan/config.yaml] (uid 0, gid 0, mode 0644)",
                "Successfully wrote file [/etc/netplan/config.yaml] to device [" + disk + "p1]",
            ]
        ),
        ActionRun(
            [
                f"Mounting [{disk}p1] as [ext4] at [/mountAction]",
                "Loading kernel [/boot/vmlinuz] and initrd [/boot/initrd.img]",
                "kexec: handing over to the installed system",
            ]
        ),
    ]


def _failure_runs(disk: str) -> list[ActionRun]:
    return [
        ActionRun(
            [*_image_lines(disk, 2304, stop_at=1280), "error reading image: unexpected EOF"],
            exit_code=1,
            message="image2disk: unexpected EOF after 1280 MB (the image server closed the "
            "connection)",
        )
    ]


def _run_as_agent(machine: Machine, workflow: Workflow, runs: Sequence[ActionRun]) -> None:
    """Report the workflow's actions in order, as the machine's agent would."""
    token, _ = agent_token_issue(machine=machine, actor=Actor.system("demo"))
    actions = Action.objects.filter(task__workflow=workflow).order_by("order")
    for action, run in zip(actions, runs, strict=False):
        report = ActionReport(action_id=action.pk, attempt=1, state=ActionState.RUNNING)
        agent_report_action(token=token, report=report)
        agent_upload_logs(
            token=token,
            action_id=action.pk,
            attempt=1,
            first_seq=1,
            lines=[{"stream": "stdout", "text": text} for text in run.lines],
        )
        state = ActionState.SUCCESS if run.exit_code == 0 else ActionState.FAILED
        agent_report_action(
            token=token,
            report=ActionReport(
                action_id=action.pk,
                attempt=1,
                state=state,
                exit_code=run.exit_code,
                message=run.message,
            ),
        )
        if state != ActionState.SUCCESS:
            return


def _ready_machines(count: int) -> list[Machine]:
    """Ready x86_64 machines (the demo image is amd64) that may run workflows and have a disk
    and a boot interface."""
    candidates = (
        Machine.objects.filter(
            state=MachineState.READY,
            arch=Machine.Arch.X86_64,
            allow_workflow=True,
            disks__isnull=False,
        )
        .filter(interfaces__is_boot=True)
        .distinct()
        .order_by("hostname")
    )
    return list(candidates[:count])


def load_demo_workflows(actor: Actor, demo: bool) -> str | None:
    """bootstrap's step: the demo templates and two finished workflows."""
    if not demo or Template.objects.filter(name__in=TEMPLATES).exists():
        return None
    with transaction.atomic():
        for name, body in TEMPLATES.items():
            template_create(actor=actor, name=name, body=body)
        machines = _ready_machines(2)
        ubuntu = Template.objects.get(name="ubuntu-22.04")
        finished = []
        for machine, runs in zip(machines, (_success_runs, _failure_runs), strict=False):
            workflow = workflow_create(template=ubuntu, machine=machine, actor=actor)
            disk = machine.disks.order_by("device").first()
            _run_as_agent(machine, workflow, runs(disk.device if disk is not None else "/dev/sda"))
            workflow.refresh_from_db()
            finished.append(f"#{workflow.pk} on {machine.hostname} ({workflow.state})")
    return (
        f"Loaded the demo templates {', '.join(TEMPLATES)}"
        + (f" and the finished workflows {', '.join(finished)}" if finished else "")
        + "."
    )
