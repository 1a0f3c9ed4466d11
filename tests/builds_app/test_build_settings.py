"""The builder's registry settings come from the environment, and a bad value stops the start
with the variable's name (settings are read once, so each case starts a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rackpilot.settings import BASE_DIR

PRINT_BUILD_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps([settings.BUILD_REGISTRY_CREDENTIALS, settings.BUILD_REGISTRY_MIRRORS, "
    "settings.BUILD_COMPRESSION, settings.BUILD_HEARTBEAT_SECONDS]))"
)


def _start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL"} and not key.startswith("BUILD_")
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_BUILD_SETTINGS],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
            "RACKPILOT_VAR_DIR": str(tmp_path),
            **env,
        },
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_registry_logins_mirrors_and_compression_are_read_from_the_environment(tmp_path: Path):
    result = _start(
        tmp_path,
        BUILD_REGISTRY_CREDENTIALS='{"ghcr.io": ["robot", "s3cret,with=signs"]}',
        BUILD_REGISTRY_MIRRORS='{"docker.io": ["mirror.example:5000", "other.example"]}',
        BUILD_COMPRESSION="gzip",
        BUILD_HEARTBEAT_SECONDS="12.5",
    )
    assert result.returncode == 0, result.stderr
    credentials, mirrors, compression, heartbeat = json.loads(result.stdout.splitlines()[-1])
    assert credentials == {"ghcr.io": ["robot", "s3cret,with=signs"]}
    assert mirrors == {"docker.io": ["mirror.example:5000", "other.example"]}
    assert (compression, heartbeat) == ("gzip", 12.5)


def test_unset_they_are_empty_and_zstd(tmp_path: Path):
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [{}, {}, "zstd", 30.0]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BUILD_REGISTRY_CREDENTIALS", "ghcr.io=robot:pw", "BUILD_REGISTRY_CREDENTIALS: not JSON"),
        (
            "BUILD_REGISTRY_CREDENTIALS",
            '{"ghcr.io": ["robot"]}',
            "BUILD_REGISTRY_CREDENTIALS: expected",
        ),
        ("BUILD_REGISTRY_MIRRORS", '["mirror.example"]', "BUILD_REGISTRY_MIRRORS: expected"),
        ("BUILD_REGISTRY_MIRRORS", '{"docker.io": "mirror"}', "BUILD_REGISTRY_MIRRORS: expected"),
        ("BUILD_COMPRESSION", "xz", "BUILD_COMPRESSION must be zstd or gzip"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
):
    result = _start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr
    assert "pw" not in result.stderr.replace(message, "")  # a login is never echoed back
