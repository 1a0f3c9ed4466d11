"""Log batches (acknowledged, deduplicated, gap-checked) and agent tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rackpilot.core.actors import Actor
from workflows.agent_protocol.tokens import agent_token_revoke
from workflows.models import Action, AgentToken, LogLine

pytestmark = pytest.mark.django_db


def _first_action(workflow) -> Action:
    return Action.objects.filter(task__workflow=workflow).order_by("order").first()


def test_batches_are_acknowledged_and_resends_are_stored_once(workflow, agent):
    action = _first_action(workflow)
    agent.report(action.pk, 1, "running")

    first = agent.logs(action.pk, 1, 1, ["a", "b", "c"])
    assert first.json()["acked_seq"] == 3
    # after a reconnect the agent resends from an older position, overlapping what is stored
    overlap = agent.logs(action.pk, 1, 2, ["b", "c", "d", "e"])
    assert overlap.json()["acked_seq"] == 5

    stored = list(LogLine.objects.filter(action=action).order_by("seq").values_list("seq", "text"))
    assert stored == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]


def test_a_gap_is_refused_with_the_expected_seq(workflow, agent):
    action = _first_action(workflow)
    agent.logs(action.pk, 1, 1, ["a"])
    response = agent.logs(action.pk, 1, 5, ["e"])
    assert response.status_code == 409
    assert "expected seq 2" in response.json()["detail"]
    assert LogLine.objects.filter(action=action).count() == 1


def test_lines_keep_ansi_codes_and_long_lines_are_refused_not_truncated(workflow, agent):
    action = _first_action(workflow)
    coloured = "\x1b[32mOK\x1b[0m disk written"
    agent.logs(action.pk, 1, 1, [coloured])
    assert LogLine.objects.get(action=action).text == coloured
    too_long = agent.logs(action.pk, 1, 2, ["x" * (64 * 1024 + 1)])
    assert too_long.status_code == 400
    assert "split" in str(too_long.json()["detail"])


def test_a_line_is_measured_in_utf8_bytes_and_a_lone_surrogate_is_named(workflow, agent):
    action = _first_action(workflow)
    # 16,384 four-byte characters are exactly the limit; one more character is over it.
    at_limit = "\U0001f600" * (16 * 1024)
    assert agent.logs(action.pk, 1, 1, [at_limit]).status_code == 200
    over = agent.logs(action.pk, 1, 2, ["ok", at_limit + "x"])
    assert over.status_code == 400
    assert "Line 1: longer than 65536 bytes" in str(over.json()["detail"])
    response = agent.client.post(
        f"/api/v1/agent/actions/{action.pk}/logs/",
        data='{"attempt": 1, "first_seq": 2, "lines": [{"text": "ok"}, {"text": "\\ud800"}]}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "Line 1: not UTF-8 text" in str(response.json()["detail"])
    assert list(LogLine.objects.filter(action=action).values_list("seq", flat=True)) == [1]


def test_malformed_batches_are_400(workflow, agent):
    action = _first_action(workflow)
    response = agent.client.post(
        f"/api/v1/agent/actions/{action.pk}/logs/",
        {"attempt": 1, "first_seq": 1, "lines": [{"stream": "tty", "text": "x"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "unknown stream" in str(response.json()["detail"])


def test_logs_of_an_old_attempt_are_stale(workflow, agent):
    action = _first_action(workflow)
    assert agent.logs(action.pk, 2, 1, ["x"]).status_code == 409


def test_tokens_are_stored_hashed(machine, agent):
    token = AgentToken.objects.get(machine=machine)
    assert agent.raw_token not in token.token_hash
    assert agent.raw_token.startswith("rpa_")
    assert len(token.token_hash) == 64


def test_missing_expired_and_revoked_tokens_are_401(machine, agent):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/agent/next-action/").status_code in (401, 403)
    assert agent.next_action().status_code == 204

    token = AgentToken.objects.get(machine=machine)
    AgentToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert agent.next_action().status_code == 401

    AgentToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    agent_token_revoke(token=token, actor=Actor.system("tests"))
    response = agent.next_action()
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_user_tokens_do_not_open_the_agent_api(api):
    assert api.get("/api/v1/agent/next-action/").status_code in (401, 403)


def test_token_renewal_issues_a_working_token_for_the_same_machine(machine, agent):
    response = agent.client.post("/api/v1/agent/token/renew/")
    assert response.status_code == 201
    fresh = response.json()["token"]
    assert fresh != agent.raw_token
    agent.client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert agent.next_action().status_code == 204
    assert AgentToken.objects.filter(machine=machine).count() == 2


def test_line_timestamps_are_kept_and_naive_ones_read_as_utc(workflow, agent):
    action = _first_action(workflow)
    response = agent.client.post(
        f"/api/v1/agent/actions/{action.pk}/logs/",
        {
            "attempt": 1,
            "first_seq": 1,
            "lines": [
                {"text": "a", "ts": "2026-11-28T10:00:00.250000+00:00"},
                {"text": "b", "ts": "2026-11-28T10:00:01"},
            ],
        },
        format="json",
    )
    assert response.status_code == 200
    stamps = [line.timestamp.isoformat() for line in LogLine.objects.order_by("seq")]
    assert stamps == ["2026-11-28T10:00:00.250000+00:00", "2026-11-28T10:00:01+00:00"]


def test_issue_agent_token_command_prints_a_working_token(machine):
    import io

    from django.core.management import call_command
    from rest_framework.test import APIClient

    out = io.StringIO()
    call_command(
        "issue_agent_token",
        "--machine",
        machine.hostname,
        "--ttl",
        "60",
        stdout=out,
        stderr=io.StringIO(),
    )
    raw = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/agent/next-action/").status_code == 204


def test_a_discovery_token_gets_no_work_before_its_hello_enrols_a_machine(machine):
    from rest_framework.test import APIClient

    from workflows.agent_protocol.tokens import agent_token_issue

    _, raw = agent_token_issue(machine=None, actor=Actor.system("t"), purpose="discovery")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/agent/next-action/")
    assert response.status_code == 403
    assert "not bound to a machine" in response.json()["detail"]
    # Nor may it say hello as a machine the inventory already has (tests/netboot covers
    # the enrolment of an unknown one).
    boot_mac = machine.interfaces.get(is_boot=True).mac
    response = client.post("/api/v1/agent/hello/", {"worker_id": boot_mac}, format="json")
    assert response.status_code == 403


def test_a_line_with_nul_characters_is_stored_with_them_shown(workflow, agent):
    """A container may print NUL bytes (a binary on stdout). PostgreSQL text cannot hold them:
    the batch used to fail, and the agent resent it forever. They are stored as U+2400 (␀)."""
    action = _first_action(workflow)
    agent.report(action.pk, 1, "running")

    response = agent.logs(action.pk, 1, 1, ["before\x00after", "next"])

    assert response.status_code == 200, response.content
    assert response.json()["acked_seq"] == 2
    stored = list(
        LogLine.objects.filter(action=action).order_by("seq").values_list("text", flat=True)
    )
    assert stored == ["before\u2400after", "next"]
