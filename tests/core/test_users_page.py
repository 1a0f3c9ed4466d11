"""Admins manage users and roles from the dashboard: add one (password shown once), change a
role, deactivate (API tokens revoked); others may not; every change an event."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.core.tokens import api_token_issue
from rackpilot.core.users import user_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = re.compile(r'data-testid="new-password">([^<]+)<')


@pytest.fixture
def admin_browser(client: Client) -> Client:
    client.force_login(UserFactory(username="boss", role="admin"))
    return client


def test_an_admin_adds_a_user_who_signs_in_with_the_password_shown(admin_browser: Client):
    answer = admin_browser.post("/users/", {"username": "dana", "email": "", "role": "operator"})

    password = PASSWORD.search(answer.content.decode()).group(1)  # type: ignore[union-attr]
    dana = get_user_model().objects.get(username="dana")
    assert user_role(dana) == "operator"
    signed_in = Client().post("/accounts/login/", {"username": "dana", "password": password})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    assert password not in admin_browser.get("/users/").content.decode()
    assert Event.objects.filter(verb="user.created", object_repr="dana").exists()


def test_a_taken_or_bad_name_is_named(admin_browser: Client) -> None:
    UserFactory(username="dana")

    taken = admin_browser.post("/users/", {"username": "DANA", "role": "viewer"})
    bad = admin_browser.post("/users/", {"username": "no spaces", "role": "viewer"})

    assert "A user named DANA exists." in taken.content.decode()
    assert "Enter a valid username" in bad.content.decode()


def test_a_role_change_and_a_deactivation(admin_browser: Client) -> None:
    erin = UserFactory(username="erin", role="viewer")
    _token, key = api_token_issue(user=erin, actor=Actor.system("tests"))

    admin_browser.post("/users/", {"user": erin.pk, "role": "operator"})
    erin.refresh_from_db()
    assert user_role(erin) == "operator"
    change = Event.objects.get(verb="user.role_changed")
    assert change.changes == {"role": ["viewer", "operator"]}

    page = admin_browser.post("/users/", {"user": erin.pk, "active": "0"}, follow=True)

    assert "erin is deactivated; their API tokens are revoked." in page.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/machines/").status_code == 401


def test_an_admin_cannot_deactivate_themself(admin_browser: Client) -> None:
    boss = get_user_model().objects.get(username="boss")

    page = admin_browser.post("/users/", {"user": boss.pk, "active": "0"}, follow=True)

    assert "You cannot deactivate yourself." in page.content.decode()
    boss.refresh_from_db()
    assert boss.is_active


def test_operators_and_viewers_may_not(operator_client: Client, viewer_client: Client) -> None:
    assert operator_client.get("/users/").status_code == 403
    assert viewer_client.post("/users/", {"username": "x", "role": "admin"}).status_code == 403
    assert not get_user_model().objects.filter(username="x").exists()
