"""One real build through the Celery task function: a local registry, the builder, the files.

Needs docker-registry, busybox-static and the Debian cloud kernel (skipped without them).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from django.test import Client

from builds.models import Build
from builds.services import recipes as recipe_services
from builds.tasks import run_build
from tests.builds.images import BUSYBOX, MODULES_ROOT, PushedImages, push_test_images
from tests.builds_app.conftest import SYSTEM, queue_one
from tests.tools import require_tool

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def pushed(oci_registry: str, tmp_path_factory: pytest.TempPathFactory) -> PushedImages:
    require_tool(BUSYBOX.exists(), f"{BUSYBOX} (Debian package busybox-static)")
    require_tool(
        MODULES_ROOT.exists() and any("cloud" in p.name for p in MODULES_ROOT.iterdir()),
        "the cloud kernel (Debian package linux-image-cloud-amd64)",
    )
    repository = f"rackpilot-app-{uuid.uuid4().hex[:12]}"
    return push_test_images(oci_registry, repository, tmp_path_factory.mktemp("push"))


def test_a_real_build_through_the_task_then_a_cached_rebuild(pushed, settings):
    settings.BUILD_INSECURE_REGISTRIES = [pushed.registry]
    config = f"""kernel:
  image: {pushed.kernel}
  cmdline: "console=ttyS0"
init:
  - {pushed.init}
"""
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="minimal", config=config, arches=["x86_64"]
    )
    build = queue_one(recipe)

    assert run_build.run(build.pk) == "success"

    build = Build.objects.get(pk=build.pk)
    assert (build.state, build.progress, build.is_default) == ("success", 100, True)
    assert build.steps and all(step["seconds"] >= 0 for step in build.steps)
    assert build.log_seq > 0 and build.log_lines.count() == build.log_seq
    artifacts = {a.name: a for a in build.artifacts.all()}
    assert set(artifacts) == {"vmlinuz-x86_64", "initramfs-x86_64"}
    root = Path(settings.BUILD_ARTIFACTS_DIR)
    for artifact in artifacts.values():
        data = (root / artifact.path).read_bytes()
        assert len(data) == artifact.size > 0
        assert hashlib.sha256(data).hexdigest() == artifact.sha256
        assert artifact.path.startswith(f"{build.pk}/")

    served = Client().get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE="bytes=0-511")
    assert served.status_code == 206
    kernel = (root / artifacts["vmlinuz-x86_64"].path).read_bytes()
    assert b"".join(served.streaming_content) == kernel[:512]

    again = queue_one(recipe)
    assert run_build.run(again.pk) == "success"
    again = Build.objects.get(pk=again.pk)
    assert again.cache_hits > 0
    assert again.downloaded_bytes == 0
    assert not again.is_default  # the first one stays the default until moved
