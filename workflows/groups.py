"""Channel-layer group names, in one place (consumers subscribe, services publish)."""


def agent_group(machine_id: int) -> str:
    """Every agent connection of a machine: told when work is available or must stop."""
    return f"agent-machine-{machine_id}"


def workflow_group(workflow_id: int) -> str:
    """Browsers watching one workflow: state changes and log lines."""
    return f"workflow-{workflow_id}"
