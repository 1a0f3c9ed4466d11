from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from workflows.states import ActionState, WorkflowState


class Template(models.Model):
    """A Tinkerbell workflow template: YAML + Go text/template, kept verbatim."""

    name = models.CharField(
        max_length=200,
        unique=True,
        error_messages={"unique": "A template with this name already exists."},
    )
    body = models.TextField(help_text="Tinkerbell template YAML (Go text/template).")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Workflow(models.Model):
    State = WorkflowState

    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="workflows")
    machine = models.ForeignKey(
        "inventory.Machine", on_delete=models.PROTECT, related_name="workflows"
    )
    hardware_map = models.JSONField(default=dict, blank=True)
    # The template body as rendered at creation, and the parsed result: later edits of the
    # template never change a workflow that exists.
    template_body = models.TextField(blank=True)
    rendered = models.TextField(blank=True)
    spec = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=WorkflowState.choices, default=WorkflowState.PENDING, db_index=True
    )
    failure_reason = models.JSONField(default=dict, blank=True)
    global_timeout = models.PositiveIntegerField(help_text="Seconds from start to finish.")
    # After success, turn netboot off for the machine (Tinkerbell's toggleAllowNetboot).
    disable_pxe_on_success = models.BooleanField(default=False)
    # Tinkerbell's bootOptions.bootMode "netboot": the BMC sets PXE for the next boot and
    # power-cycles the machine when the workflow is created, so nobody has to press a button.
    boot_into_pxe = models.BooleanField(default=False)
    # Power jobs from Tinkerbell's custom boot (bootOptions.custombootConfig): "start" is queued
    # when the workflow is created, "success" when it succeeds; each is the power_job_request
    # arguments {"action", "boot_device", "persistent"}.
    boot_power = models.JSONField(default=dict, blank=True)
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    # The name an import gave it (a Tinkerbell Workflow's metadata.name), so that an export
    # hands back the same object; blank for workflows started in Rackpilot.
    imported_name = models.CharField(max_length=253, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["machine", "state"], name="workflow_machine_state")]
        permissions = [("run_workflow", "Can start, retry, re-run and cancel workflows")]
        constraints = [
            # At most one unfinished workflow per machine, whatever races the services lose.
            models.UniqueConstraint(
                fields=["machine"],
                condition=models.Q(state__in=["pending", "running"]),
                name="workflow_one_unfinished_per_machine",
                violation_error_message="This machine already has an unfinished workflow.",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.spec.get('name') or self.template_id}"

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.template.name)

    @property
    def is_finished(self) -> bool:
        return self.state in {
            WorkflowState.SUCCESS,
            WorkflowState.FAILED,
            WorkflowState.TIMEOUT,
            WorkflowState.CANCELLED,
        }

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class Task(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=200)
    worker = models.CharField(max_length=200, help_text="Agent id (MAC) that runs the task.")
    volumes = models.JSONField(default=list, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["workflow", "order"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "order"], name="task_unique_order"),
        ]
        # Netboot and the agents find a machine's work by the MACs its tasks name.
        indexes = [models.Index(fields=["worker"], name="task_worker")]

    def __str__(self) -> str:
        return self.name


class Action(models.Model):
    State = ActionState

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="actions")
    name = models.CharField(max_length=200)
    image = models.CharField(max_length=500)
    command = models.JSONField(default=list, blank=True)
    timeout = models.PositiveIntegerField(help_text="Seconds.")
    environment = models.JSONField(default=dict, blank=True)
    volumes = models.JSONField(default=list, blank=True)
    pid = models.CharField(max_length=32, blank=True)
    on_failure = models.JSONField(default=list, blank=True)
    on_timeout = models.JSONField(default=list, blank=True)
    order = models.PositiveIntegerField(help_text="Position in the whole workflow.")
    state = models.CharField(
        max_length=16, choices=ActionState.choices, default=ActionState.PENDING, db_index=True
    )
    # Bumped by a retry: reports and log lines name the attempt they belong to.
    attempt = models.PositiveIntegerField(default=1)
    # When the server received the agent's report: timeouts and durations are measured by
    # the server's clock, never by a machine's (Hook often boots with a wrong RTC).
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The times the agent put in its reports, by its own clock, kept as reported.
    agent_started_at = models.DateTimeField(null=True, blank=True)
    agent_finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    # Outcome of the on-failure / on-timeout reaction command, as the agent reported it.
    reaction = models.JSONField(default=dict, blank=True)
    # Highest log seq persisted for the current attempt: what the server acknowledges.
    log_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["task__workflow", "order"]
        constraints = [
            models.UniqueConstraint(fields=["task", "order"], name="action_unique_order"),
        ]
        indexes = [
            # A workflow's next action (every agent report reads it): the first entry of
            # each task's, whatever number of actions already succeeded.
            models.Index(
                fields=["task", "order"],
                condition=~models.Q(state=ActionState.SUCCESS),
                name="action_unsucceeded_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class LogLine(models.Model):
    class Stream(models.TextChoices):
        STDOUT = "stdout", "stdout"
        STDERR = "stderr", "stderr"
        SYSTEM = "system", "system"
        # Sent by the machine's dockerd to the syslog intake (stock HookOS); seq by the server.
        SYSLOG = "syslog", "syslog"

    # A line is known by its action, attempt and seq, and nothing else: with a separate id
    # every line cost PostgreSQL an identity and a second index, a third of storing it.
    # Resent batches after a reconnect are stored once (the key); the key starts with
    # action and serves every lookup of lines.
    pk = models.CompositePrimaryKey("action_id", "attempt", "seq")
    # No foreign-key constraint in the database and no index of its own: every line is
    # written while its action's row is locked (it cannot be deleted meanwhile) and deleted
    # with it (on_delete, by Django), while the constraint's check cost PostgreSQL as much as
    # storing the line.
    action = models.ForeignKey(
        Action,
        on_delete=models.CASCADE,
        related_name="log_lines",
        db_constraint=False,
        db_index=False,
    )
    attempt = models.PositiveIntegerField(default=1)
    seq = models.PositiveBigIntegerField(help_text="Per action attempt, assigned by the agent.")
    stream = models.CharField(max_length=6, choices=Stream.choices, default=Stream.STDOUT)
    timestamp = models.DateTimeField()
    text = models.TextField()

    class Meta:
        ordering = ["action", "attempt", "seq"]

    def __str__(self) -> str:
        return f"{self.action_id}/{self.attempt}#{self.seq}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class AgentToken(models.Model):
    """A bearer token for one machine's agent (or a discovery session), stored hashed.

    Netboot never puts a lasting token on a kernel command line, where any privileged action
    container can read it: an iPXE script carries a *boot* nonce, good for one hello, which
    the agent exchanges for a *session* bound to the machine and to the workflow it booted for
    (see workflows/services/sessions.py).
    """

    class Purpose(models.TextChoices):
        AGENT = "agent", "Agent"  # issued by an operator; bound to a machine only
        DISCOVERY = "discovery", "Discovery"  # for one unknown MAC, enrols it at hello
        BOOT = "boot", "Boot nonce"  # in an iPXE script: one hello, then spent
        SESSION = "session", "Boot session"  # what a boot nonce is exchanged for

    machine = models.ForeignKey(
        "inventory.Machine",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agent_tokens",
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.AGENT)
    # A discovery token is issued to one unknown MAC's boot; only that MAC may use it.
    mac = models.CharField(max_length=17, blank=True)
    # The workflow a boot nonce or session is for: the session ends with it.
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="agent_tokens"
    )
    # When a boot nonce was exchanged at its hello; a spent nonce authenticates nothing.
    spent_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, to recognise it in lists without revealing it.
    prefix = models.CharField(max_length=8)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.purpose})"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
