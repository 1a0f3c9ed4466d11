"""Rackpilot refuses to start outside the embedded default without a SECRET_KEY of its own,
and the embedded default makes one (and a field encryption key) on first start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rackpilot.settings import BASE_DIR, PUBLISHED_SECRET_KEYS

PRINT_KEYS = (
    "import django; from django.conf import settings; django.setup(); "
    "print(settings.SECRET_KEY); print(settings.FIELD_ENCRYPTION_KEYS[0])"
)


def _start(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_KEYS],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
            "RACKPILOT_VAR_DIR": str(var_dir),
            **env,
        },
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


POSTGRES = "postgres://postgres@127.0.0.1:5432/rackpilot"


def test_outside_the_embedded_default_a_missing_key_refuses_to_start(tmp_path: Path):
    result = _start(tmp_path, DATABASE_URL=POSTGRES)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("published", sorted(PUBLISHED_SECRET_KEYS))
def test_the_published_development_key_is_refused(tmp_path: Path, published: str):
    result = _start(tmp_path, DATABASE_URL=POSTGRES, SECRET_KEY=published)
    assert result.returncode != 0
    assert "published development key" in result.stderr


def test_the_embedded_default_makes_private_keys_once(tmp_path: Path):
    first = _start(tmp_path)
    assert first.returncode == 0, first.stderr
    secret_key, field_key = first.stdout.split()
    assert len(secret_key) >= 50
    assert secret_key not in PUBLISHED_SECRET_KEYS
    for name in ("secret_key", "field_encryption_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    # the same keys on the next start (sessions and BMC passwords survive a restart)
    again = _start(tmp_path)
    assert again.stdout.split() == [secret_key, field_key]


def test_a_deployment_reads_the_key_make_run_wrote(tmp_path: Path):
    (tmp_path / "secret_key").write_text("k" * 60 + "\n")
    result = _start(tmp_path, DATABASE_URL=POSTGRES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "k" * 60
