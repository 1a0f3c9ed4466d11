"""Per-source-address rate limits on the unauthenticated netboot, metadata and artifact views,
counted in the real Redis."""

from __future__ import annotations

import copy
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from builds.models import Build
from inventory.models import Machine
from netboot import ratelimit

pytestmark = pytest.mark.django_db

IP = "10.0.2.15"  # bios_machine's address
SCRIPT = "/ipxe/52:54:00:12:34:56/auto.ipxe"
# Mid-window, so a test's requests never straddle two windows.
NOW = 1_800_000_030.0


@pytest.fixture(autouse=True)
def _own_counters(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters of this test alone: parallel workers and other tests share the Redis."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"rackpilot-test-ratelimit-{uuid.uuid4().hex}"
    settings.CACHES = caches
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: NOW))


@pytest.fixture
def files(settings: Any, tmp_path: Path, default_build: Build) -> Build:
    settings.BUILD_ARTIFACTS_DIR = tmp_path
    for artifact in default_build.artifacts.all():
        path = tmp_path / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
        artifact.size = 10
        artifact.save(update_fields=["size"])
    return default_build


def test_scripts_over_the_limit_get_429_with_retry_after(
    client: Client, settings: Any, bios_machine: Machine, default_build: Build
) -> None:
    settings.NETBOOT_RATE_LIMIT = "3/m"
    for _ in range(3):
        assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code == 200

    refused = client.get(SCRIPT, REMOTE_ADDR=IP)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"  # the seconds left in this minute's window
    assert refused["Content-Type"] == "text/plain; charset=utf-8"
    assert refused.content.decode() == (
        f"rate limit: {IP} made more than 3 requests this minute; retry in 30 s\n"
    )
    assert "no-cache" in refused["Cache-Control"]


def test_the_next_window_serves_again(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch, bios_machine: Machine
) -> None:
    settings.NETBOOT_RATE_LIMIT = "1/m"
    client.get(SCRIPT, REMOTE_ADDR=IP)
    assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code == 429
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: NOW + 30))
    assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code != 429


def test_each_source_address_has_its_own_budget(
    client: Client, settings: Any, bios_machine: Machine
) -> None:
    settings.NETBOOT_RATE_LIMIT = "2/m"
    for _ in range(2):
        client.get(SCRIPT, REMOTE_ADDR=IP)
    assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code == 429
    # a machine at another address boots on
    assert client.get(SCRIPT, REMOTE_ADDR="10.0.2.16").status_code == 404  # no such MAC there
    assert client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.0.2.16").status_code == 404


def test_scripts_and_metadata_share_one_budget(
    client: Client, settings: Any, bios_machine: Machine
) -> None:
    settings.NETBOOT_RATE_LIMIT = "4/m"
    assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code != 429
    assert client.get("/ipxe/auto.ipxe", REMOTE_ADDR=IP).status_code != 429
    assert client.get("/2009-04-04/meta-data/hostname", REMOTE_ADDR=IP).status_code == 200
    assert client.get("/latest/user-data", REMOTE_ADDR=IP).status_code != 429
    assert client.get("/2009-04-04/meta-data/", REMOTE_ADDR=IP).status_code == 429
    assert client.get("/2009-04-04/user-data", REMOTE_ADDR=IP).status_code == 429


def test_artifacts_have_their_own_budget(
    client: Client, settings: Any, bios_machine: Machine, files: Build
) -> None:
    settings.NETBOOT_RATE_LIMIT = "1/m"
    settings.NETBOOT_ARTIFACT_RATE_LIMIT = "2/m"
    client.get(SCRIPT, REMOTE_ADDR=IP)
    assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code == 429
    # the scripts' budget is spent, the kernel and initrd still come
    assert client.get("/artifacts/x86_64/vmlinuz-x86_64", REMOTE_ADDR=IP).status_code == 200
    assert client.head("/artifacts/x86_64/initramfs-x86_64", REMOTE_ADDR=IP).status_code == 200
    refused = client.get("/artifacts/x86_64/vmlinuz-x86_64", REMOTE_ADDR=IP)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"


def test_zero_turns_a_limit_off(
    client: Client, settings: Any, bios_machine: Machine, files: Build
) -> None:
    settings.NETBOOT_RATE_LIMIT = "0"
    settings.NETBOOT_ARTIFACT_RATE_LIMIT = "0"
    for _ in range(30):
        assert client.get("/2009-04-04/meta-data/hostname", REMOTE_ADDR=IP).status_code == 200
        assert client.head("/artifacts/x86_64/vmlinuz-x86_64", REMOTE_ADDR=IP).status_code == 200


def test_the_limit_is_read_at_request_time(
    client: Client, settings: Any, bios_machine: Machine
) -> None:
    settings.NETBOOT_RATE_LIMIT = "0"
    for _ in range(5):
        client.get(SCRIPT, REMOTE_ADDR=IP)
    settings.NETBOOT_RATE_LIMIT = "5/h"
    for _ in range(5):
        assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code != 429
    refused = client.get(SCRIPT, REMOTE_ADDR=IP)
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(3600 - int(NOW % 3600))


def test_without_redis_machines_still_boot(
    client: Client,
    settings: Any,
    bios_machine: Machine,
    default_build: Build,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CACHES = caches
    settings.NETBOOT_RATE_LIMIT = "1/m"
    for _ in range(3):
        assert client.get(SCRIPT, REMOTE_ADDR=IP).status_code == 200
    assert "let through" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120/m", ratelimit.Rate(120, 60)),
        (" 10 / s ", ratelimit.Rate(10, 1)),
        ("5/h", ratelimit.Rate(5, 3600)),
        ("1000/d", ratelimit.Rate(1000, 86400)),
        ("0", None),
        ("0/m", None),
    ],
)
def test_rate_syntax(value: str, expected: ratelimit.Rate | None) -> None:
    assert ratelimit.parse_rate(value) == expected


@pytest.mark.parametrize("value", ["120", "fast", "120/minute", "-1/m", ""])
def test_a_bad_rate_names_the_setting(value: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="NETBOOT_RATE_LIMIT"):
        ratelimit.parse_rate(value, "NETBOOT_RATE_LIMIT")
