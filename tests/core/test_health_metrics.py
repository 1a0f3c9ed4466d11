from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_redis_ok(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_healthz_is_503_when_redis_is_unreachable(client: Client, settings):
    # A port on loopback where nothing listens: the real client fails to connect.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_metrics_expose_machines_by_state_and_requests(client: Client):
    MachineFactory.create_batch(3, state="ready")
    MachineFactory(state="failed")
    client.get("/healthz")

    text = client.get("/metrics").content.decode()

    assert 'rackpilot_machines{state="ready"} 3.0' in text
    assert 'rackpilot_machines{state="failed"} 1.0' in text
    assert 'rackpilot_machines{state="retired"} 0.0' in text
    assert "rackpilot_http_requests_total{" in text


def _sample(text: str, line_start: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_metrics_count_netboot_requests_by_kind_and_outcome(client: Client):
    script_missing = 'rackpilot_netboot_requests_total{kind="script",outcome="not_found"}'
    metadata_missing = 'rackpilot_netboot_requests_total{kind="metadata",outcome="not_found"}'
    before = client.get("/metrics").content.decode()

    client.get("/ipxe/52:54:00:00:99:99/auto.ipxe")
    client.get("/ipxe/not-a-mac/auto.ipxe")
    client.get("/2009-04-04/meta-data/hostname")

    after = client.get("/metrics").content.decode()
    assert _sample(after, script_missing) == _sample(before, script_missing) + 2
    assert _sample(after, metadata_missing) == _sample(before, metadata_missing) + 1


def test_metrics_read_builds_power_jobs_and_running_actions_from_the_database(client: Client):
    text = client.get("/metrics").content.decode()

    assert 'rackpilot_builds{state="queued"}' in text
    assert 'rackpilot_power_jobs{state="running"} 0.0' in text
    assert "rackpilot_actions_running 0.0" in text
    assert "rackpilot_agents_connected " in text
