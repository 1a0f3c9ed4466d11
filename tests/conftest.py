from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from rackpilot.core.actors import Actor
from tests.container_fixtures import (
    action_images,
    container_work_directory,
    docker_client,
    oci_registry,
    podman_engine,
)
from tests.factories import UserFactory

# Session fixtures for tests that need real containers or a registry (tests/containers.py).
__all__ = [
    "action_images",
    "container_work_directory",
    "docker_client",
    "oci_registry",
    "podman_engine",
]


@pytest.fixture(autouse=True)
def _isolated_channel_layer(settings: pytest.FixtureRequest) -> None:
    """Parallel test workers share one Redis: give each its own channel-layer prefix."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    layers = settings.CHANNEL_LAYERS  # type: ignore[attr-defined]
    layers["default"]["CONFIG"]["prefix"] = f"rackpilot-test-{worker}"
    settings.CHANNEL_LAYERS = layers  # type: ignore[attr-defined]


@pytest.fixture
def actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def operator(db: None):
    """A member of the operator role: runs commands, edits the inventory, sees no secrets."""
    return UserFactory(username="operator", role="operator")


@pytest.fixture
def viewer(db: None):
    """A member of the viewer role: reads everything but secrets, changes nothing."""
    return UserFactory(username="viewer", role="viewer")


@pytest.fixture
def admin_member(db: None):
    """A member of the admin role (every permission), not a superuser."""
    return UserFactory(username="admin-member", role="admin")


@pytest.fixture
def operator_client(client, operator):
    """Django's test client, signed in as the operator."""
    client.force_login(operator)
    return client


@pytest.fixture
def admin_member_client(client, admin_member):
    """Django's test client, signed in as a member of the admin role."""
    client.force_login(admin_member)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    """Django's test client, signed in as a user without write permissions."""
    client.force_login(viewer)
    return client


@pytest.fixture
def api(operator) -> APIClient:
    # Load the permissions once, as each request does on its fresh user: query counts measured
    # over several requests then compare like with like.
    operator.get_all_permissions()
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def admin_api(admin_member) -> APIClient:
    """The API as a member of the admin role (deletes, secrets)."""
    admin_member.get_all_permissions()
    client = APIClient()
    client.force_authenticate(admin_member)
    return client


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    viewer.get_all_permissions()
    client = APIClient()
    client.force_authenticate(viewer)
    return client


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def queued_power_jobs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Power job ids handed to Celery after the commit, collected here instead of a broker."""
    from inventory.power import services as power_services

    ids: list[int] = []
    monkeypatch.setattr(power_services, "enqueue_power_job", ids.append)
    return ids
