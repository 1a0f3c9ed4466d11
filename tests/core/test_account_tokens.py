"""Everyone's own API tokens, from the dashboard: issued with a lifetime, the key shown once and
working against the API, revoked so it fails at once; nobody touches another user's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.core.tokens import api_token_id, api_token_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
KEY = re.compile(r'data-testid="new-key">([^<]+)<')


def _api(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/machines/").status_code


def test_a_viewer_issues_a_token_that_works_and_then_revokes_it(viewer_client: Client, viewer):
    issued = viewer_client.post("/account/tokens/", {"description": "ci", "ttl_hours": "168"})

    assert issued.status_code == 200
    assert "no-store" in issued["Cache-Control"]
    key = KEY.search(issued.content.decode()).group(1)  # type: ignore[union-attr]
    assert _api(key) == 200
    token = AuthToken.objects.get(user=viewer)
    assert timedelta(days=6, hours=23) < token.expiry - timezone.now() <= timedelta(days=7)
    again = viewer_client.get("/account/tokens/").content.decode()
    assert key not in again and api_token_id(token) in again
    assert Event.objects.filter(verb="api_token.issued", message__endswith=": ci").exists()

    revoked = viewer_client.post("/account/tokens/", {"revoke": api_token_id(token)}, follow=True)

    assert "revoked: it fails from now on" in revoked.content.decode()
    assert _api(key) == 401
    assert Event.objects.filter(verb="api_token.revoked").count() == 1


def test_another_users_token_cannot_be_revoked_or_seen(viewer_client: Client) -> None:
    other = UserFactory(username="other", role="operator")
    token, key = api_token_issue(user=other, actor=Actor.system("tests"))

    page = viewer_client.get("/account/tokens/").content.decode()
    answer = viewer_client.post("/account/tokens/", {"revoke": api_token_id(token)}, follow=True)

    assert api_token_id(token) not in page
    assert "You have no API token" in answer.content.decode()
    assert _api(key) == 200


def test_a_bad_lifetime_is_named(viewer_client: Client) -> None:
    answer = viewer_client.post("/account/tokens/", {"ttl_hours": "0"})

    assert answer.status_code == 200
    assert "Select a valid choice" in answer.content.decode()
    assert not AuthToken.objects.exists()
