from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Permission
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
    """A signed-in operator who may change the inventory and workflows (not a superuser)."""
    user = UserFactory(username="operator")
    apps = ["inventory", "workflows", "builds", "netboot"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=apps))
    return user


@pytest.fixture
def viewer(db: None):
    """A signed-in user without write permissions."""
    return UserFactory(username="viewer")


@pytest.fixture
def operator_client(client, operator):
    """Django's test client, signed in as the operator."""
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    """Django's test client, signed in as a user without write permissions."""
    client.force_login(viewer)
    return client


@pytest.fixture
def api(operator) -> APIClient:
    client = APIClient()
    client.force_authenticate(operator)
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
