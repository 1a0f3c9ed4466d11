"""Kernel and initrd downloads by a netbooting machine appear on its timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from builds.models import Build
from inventory.models import Machine
from rackpilot.core.models import Event

pytestmark = pytest.mark.django_db

FETCH_VERBS = ["netboot.kernel_fetched", "netboot.initrd_fetched"]


@pytest.fixture
def files(settings: Any, tmp_path: Path, default_build: Build) -> Build:
    """The default build's artifacts as real files, where the builds app serves them from."""
    settings.BUILD_ARTIFACTS_DIR = tmp_path
    for artifact in default_build.artifacts.all():
        path = tmp_path / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        artifact.size = 100
        artifact.save(update_fields=["size"])
    return default_build


def fetch_events(machine: Machine) -> list[tuple[str, dict[str, Any]]]:
    events = Event.objects.filter(machine=machine, verb__in=FETCH_VERBS).order_by("pk")
    return [(e.verb, e.changes) for e in events]


def test_boot_sequence_lands_on_the_timeline_in_order(
    client: Client, bios_machine: Machine, files: Build
) -> None:
    ip = "10.0.2.15"
    assert client.get("/ipxe/52:54:00:12:34:56/auto.ipxe", REMOTE_ADDR=ip).status_code == 200
    kernel = client.get("/artifacts/x86_64/vmlinuz-x86_64", REMOTE_ADDR=ip)
    initrd = client.get("/artifacts/x86_64/initramfs-x86_64", REMOTE_ADDR=ip)

    assert kernel.status_code == initrd.status_code == 200
    assert b"".join(kernel.streaming_content) == b"x" * 100  # type: ignore[attr-defined]
    verbs = list(
        Event.objects.filter(machine=bios_machine, verb__startswith="netboot.")
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs == ["netboot.script_served", *FETCH_VERBS]
    assert fetch_events(bios_machine)[0][1] == {
        "artifact": "vmlinuz-x86_64",
        "source_ip": ip,
        "partial": False,
    }


def test_unknown_addresses_heads_and_later_ranges_record_nothing(
    client: Client, bios_machine: Machine, files: Build
) -> None:
    url = "/artifacts/x86_64/vmlinuz-x86_64"
    assert client.get(url, REMOTE_ADDR="10.0.2.99").status_code == 200
    assert client.head(url, REMOTE_ADDR="10.0.2.15").status_code == 200
    assert client.get(url, REMOTE_ADDR="10.0.2.15", HTTP_RANGE="bytes=50-").status_code == 206
    assert fetch_events(bios_machine) == []
    assert client.get(url, REMOTE_ADDR="10.0.2.15", HTTP_RANGE="bytes=0-9").status_code == 206
    assert [verb for verb, _ in fetch_events(bios_machine)] == ["netboot.kernel_fetched"]


def test_missing_artifact_is_still_404(client: Client, bios_machine: Machine) -> None:
    response = client.get("/artifacts/x86_64/vmlinuz-x86_64", REMOTE_ADDR="10.0.2.15")
    assert response.status_code == 404
    assert fetch_events(bios_machine) == []
