"""Channel-layer group names of the builds app (consumers subscribe, services publish)."""


def build_group(build_id: int) -> str:
    """Browsers watching one build: state, progress and log lines."""
    return f"build-{build_id}"
