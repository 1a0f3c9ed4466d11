"""How an action becomes a container (no engine needed to check the request)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rackpilot_agent.config import Settings
from rackpilot_agent.runner import (
    DEFAULT_TIMEOUT,
    ActionSpec,
    container_config,
    reports_on_start,
)

PAYLOAD = {
    "workflow": 7,
    "task": "os-installation",
    "worker": "52:54:00:12:34:56",
    "action": 31,
    "attempt": 2,
    "name": "stream-image",
    "image": "quay.io/tinkerbell/actions/image2disk:latest",
    "command": [],
    "timeout": 600,
    "environment": {"DEST_DISK": "/dev/nvme0n1", "COMPRESSED": True},
    "volumes": ["/dev:/dev", "/lib/firmware:/lib/firmware:ro"],
    "pid": "",
    "on_failure": [],
    "on_timeout": [],
    "state": "pending",
    "log_seq": 0,
}


def test_the_action_payload_is_read_as_sent():
    spec = ActionSpec.from_payload(PAYLOAD)
    assert (spec.workflow, spec.action, spec.attempt) == (7, 31, 2)
    assert spec.environment == {"DEST_DISK": "/dev/nvme0n1", "COMPRESSED": "True"}
    assert spec.effective_timeout == 600


def test_missing_and_null_fields_get_defaults():
    spec = ActionSpec.from_payload(
        {"action": 1, "attempt": 1, "image": "busybox", "command": None, "timeout": None}
    )
    assert spec.command == []
    assert spec.effective_timeout == DEFAULT_TIMEOUT


def test_container_is_privileged_with_binds_env_and_labels(agent_settings: Settings):
    spec = ActionSpec.from_payload(PAYLOAD)
    config = container_config(spec, agent_settings, command=spec.command)
    assert config["image"] == PAYLOAD["image"]
    assert config["privileged"] is True
    assert config["volumes"] == ["/dev:/dev", "/lib/firmware:/lib/firmware:ro"]
    assert config["environment"] == ["DEST_DISK=/dev/nvme0n1", "COMPRESSED=True"]
    assert config["network_mode"] == "host"
    assert config["tty"] is False  # stdout and stderr must stay apart
    assert config["labels"] == {
        "rackpilot.workflow": "7",
        "rackpilot.action": "31",
        "rackpilot.attempt": "2",
        "rackpilot.role": "action",
    }
    assert config["name"] == "rackpilot-31-2"
    assert "command" not in config  # the image's own command runs
    assert "pid_mode" not in config


def test_command_pid_and_network_mode_when_asked(agent_settings: Settings):
    spec = replace(ActionSpec.from_payload(PAYLOAD), pid="host")
    config = container_config(
        spec, replace(agent_settings, network_mode="none"), command=["sh", "-c", "echo hi"]
    )
    assert config["command"] == ["sh", "-c", "echo hi"]
    assert config["pid_mode"] == "host"
    assert config["network_mode"] == "none"


def test_a_reaction_container_has_its_own_name_and_role(agent_settings: Settings):
    spec = ActionSpec.from_payload(PAYLOAD)
    config = container_config(spec, agent_settings, command=["cleanup"], role="on-failure")
    assert config["name"] == "rackpilot-31-2-on-failure"
    assert config["labels"]["rackpilot.role"] == "on-failure"
    assert config["volumes"] == spec.volumes  # same binds and environment as the action
    assert config["environment"] == ["DEST_DISK=/dev/nvme0n1", "COMPRESSED=True"]


@pytest.mark.parametrize(
    ("image", "environment", "expected"),
    [
        ("quay.io/tinkerbell/actions/kexec:latest", {}, True),
        ("ghcr.io/jacobweinstock/reboot-action:v1", {}, True),
        ("127.0.0.1:5000/actions/reboot:v1", {}, True),
        ("quay.io/tinkerbell/actions/image2disk:latest", {}, False),
        ("reboot.example.com/actions/writefile:v1", {}, False),  # registry name: no
        ("quay.io/acme/power-off:v1", {"RACKPILOT_REPORT_ON_START": "true"}, True),
        ("quay.io/acme/kexec:v1", {"RACKPILOT_REPORT_ON_START": "nonsense"}, True),
        ("quay.io/acme/tool:v1", {"RACKPILOT_REPORT_ON_START": "0"}, False),
    ],
)
def test_which_actions_report_success_when_started(
    image: str, environment: dict[str, str], expected: bool
):
    spec = replace(ActionSpec.from_payload(PAYLOAD), image=image, environment=environment)
    assert reports_on_start(spec) is expected


def test_a_reboot_action_gets_the_folder_where_the_agent_says_it_was_reported(
    agent_settings: Settings,
):
    spec = replace(ActionSpec.from_payload(PAYLOAD), image="quay.io/tinkerbell/actions/reboot:v1")
    config = container_config(spec, agent_settings, command=[])
    host_folder = agent_settings.state_dir / "reported" / "31-2"
    assert config["volumes"][-1] == f"{host_folder}:/run/rackpilot-agent"
    assert config["environment"][-1] == "RACKPILOT_REPORTED_FILE=/run/rackpilot-agent/reported"
    # Other actions, and a reboot action's on-failure command, get nothing of the sort.
    for other in (
        container_config(ActionSpec.from_payload(PAYLOAD), agent_settings, command=[]),
        container_config(spec, agent_settings, command=["sh"], role="on-failure"),
    ):
        assert not any("rackpilot-agent" in volume for volume in other["volumes"])
        assert not any(env.startswith("RACKPILOT_REPORTED") for env in other["environment"])
