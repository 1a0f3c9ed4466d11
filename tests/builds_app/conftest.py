"""Fixtures for the builds app: recipes, builds in every state, a fake builder."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

import builds.builder
from builds.models import Build, BuildRecipe
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from rackpilot.core.actors import Actor
from tests.factories import UserFactory

SYSTEM = Actor.system("tests")

RECIPE = """\
kernel:
  image: 127.0.0.1:5000/hook/kernel:6.1
  cmdline: "console=ttyS0"
init:
  - 127.0.0.1:5000/hook/init:v1
services:
  - name: agent
    image: 127.0.0.1:5000/hook/agent:v1
"""


@pytest.fixture(autouse=True)
def _builds_settings(settings: Any, tmp_path: Path) -> None:
    settings.BUILD_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.BUILD_CACHE_DIR = tmp_path / "cache"


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Builds handed to Celery (after the commit), instead of a real broker."""
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(lifecycle, "enqueue_build", lambda pk, tid: calls.append((pk, tid)))
    return calls


@pytest.fixture(autouse=True)
def _no_broker(enqueued: list[tuple[int, str]]) -> None:
    """No test talks to the Celery broker."""


@pytest.fixture
def builder_user(db: None) -> Any:
    user = UserFactory(username="builder-op")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="builds"))
    return user


@pytest.fixture
def api(builder_user: Any) -> APIClient:
    builder_user.get_all_permissions()  # loaded once, as each request does: counts compare
    client = APIClient()
    client.force_authenticate(builder_user)
    return client


@pytest.fixture
def recipe(db: None) -> BuildRecipe:
    return recipe_services.recipe_create(
        actor=SYSTEM, name="hook", config=RECIPE, arches=["x86_64", "aarch64"]
    )


def queue_one(recipe: BuildRecipe, arch: str = "x86_64") -> Build:
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM, arch=arch)
    return build


def write_artifacts(out_dir: Path, arch: str, size: int = 1000) -> list[SimpleNamespace]:
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for i, name in enumerate([f"vmlinuz-{arch}", f"initramfs-{arch}"]):
        data = bytes((n * 7 + i) % 251 for n in range(size))
        path = out_dir / name
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        artifacts.append(SimpleNamespace(name=name, path=path, size=size, sha256=digest))
    return artifacts


def succeed(build: Build, size: int = 1000) -> Build:
    """Run ``build`` to success through the task's services, with real files."""
    from builds.services.runner import build_output_dir

    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    files = write_artifacts(build_output_dir(build.pk), build.arch, size)
    return lifecycle.build_finish(
        build_id=build.pk,
        actor=SYSTEM,
        artifacts=[lifecycle.ArtifactFile(f.name, f.path, f.size, f.sha256) for f in files],
        steps=[{"name": "pull", "seconds": 1.5}, {"name": "initramfs", "seconds": 2.0}],
    )


@pytest.fixture
def fake_builder(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any]], None]:
    """Replace ``builder.build`` with ``fn(recipe_text, **kwargs)``."""

    def install(fn: Callable[..., Any]) -> None:
        monkeypatch.setattr(builds.builder, "build", fn, raising=False)

    return install


def builds_admin_rows(actor: Actor) -> Build:
    """A recipe, a successful build and its artifacts (rows only), for pages that list every
    model (the admin smoke test in tests/inventory/test_admin.py)."""
    from builds.models import BuildArtifact

    recipe = recipe_services.recipe_create(
        actor=actor, name="fra1-hook", config=RECIPE, arches=["x86_64"]
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=actor)
    lifecycle.build_start(build_id=build.pk, actor=actor)
    build = lifecycle.build_finish(build_id=build.pk, actor=actor, artifacts=[], steps=[])
    for name in ("vmlinuz-x86_64", "initramfs-x86_64"):
        BuildArtifact.objects.create(
            build=build, name=name, size=1, sha256="0" * 64, path=f"{build.pk}/{name}"
        )
    return build
