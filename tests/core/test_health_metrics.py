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
