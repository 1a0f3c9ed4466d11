"""`manage.py check --deploy` is clean with the production settings the README documents."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The README's "Production settings" block, as a deployment sets it.
PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "ALLOWED_HOSTS": "rackpilot.example.net",
    "CSRF_TRUSTED_ORIGINS": "https://rackpilot.example.net",
    "SECRET_KEY": "a-deployment-key-" + "x" * 50,
    "FIELD_ENCRYPTION_KEYS": "",
}


def _check(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The test runner's own switches (async-unsafe ORM calls in tests) are not a deployment's.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(extra)
    if not env["FIELD_ENCRYPTION_KEYS"]:
        from cryptography.fernet import Fernet

        env["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_settings_pass_the_deploy_check() -> None:
    result = _check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_https_the_check_names_what_is_missing() -> None:
    result = _check({**PRODUCTION, "HTTPS": "false"})
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stdout + result.stderr
