"""The dashboard login locks a username+address pair out after repeated failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests/factories.py UserFactory


@pytest.fixture(autouse=True)
def _three_failures(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 0.25


def _sign_in(client: Client, username: str, password: str, ip: str = "10.1.0.1") -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_right_password_signs_in(client: Client, operator: Any) -> None:
    response = _sign_in(client, "operator", PASSWORD)
    assert response.status_code == 302
    assert _signed_in(client)


def test_repeated_failures_lock_the_pair_out_with_429_and_a_message(
    client: Client, operator: Any
) -> None:
    # given two failed attempts, which still get the normal form
    for _ in range(2):
        response = _sign_in(client, "operator", "wrong")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    # when the third fails too
    locked = _sign_in(client, "operator", "wrong")
    # then the page says so, with 429
    assert locked.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in locked.templates]
    text = locked.content.decode()
    assert "Too many failed sign-ins" in text
    assert "15 minutes" in text
    # and even the right password is refused until the cool-off ends
    again = _sign_in(client, "operator", PASSWORD)
    assert again.status_code == 429
    assert not _signed_in(client)


def test_the_lockout_is_per_username_and_address(client: Client, operator: Any, viewer: Any):
    for _ in range(3):
        _sign_in(client, "operator", "wrong", ip="10.1.0.1")
    assert _sign_in(client, "operator", PASSWORD, ip="10.1.0.1").status_code == 429

    # another user behind the same address is not locked out
    other = Client()
    assert _sign_in(other, "viewer", PASSWORD, ip="10.1.0.1").status_code == 302
    # nor is the same user from another address
    elsewhere = Client()
    assert _sign_in(elsewhere, "operator", PASSWORD, ip="10.2.0.2").status_code == 302


def test_a_success_resets_the_count(client: Client, operator: Any) -> None:
    for _ in range(2):
        _sign_in(client, "operator", "wrong")
    assert _sign_in(client, "operator", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert _sign_in(client, "operator", "wrong").status_code == 200
    assert _sign_in(client, "operator", PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client: Client, operator: Any) -> None:
    for _ in range(3):
        _sign_in(client, "operator", "wrong")
    assert _sign_in(client, "operator", PASSWORD).status_code == 429
    # when the cool-off (15 minutes) has passed since the last attempt
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _sign_in(client, "operator", PASSWORD).status_code == 302
    assert _signed_in(client)
