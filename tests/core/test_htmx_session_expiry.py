"""A fragment request whose session expired sends the whole page to the login, not the form into
the fragment."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def test_an_htmx_request_without_a_session_redirects_the_page_to_the_login() -> None:
    machine = MachineFactory()
    page = f"/machines/{machine.pk}/"
    card = reverse("dashboard:machine-power-card", args=[machine.pk])

    answer = Client().get(
        card, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )

    assert answer.status_code == 200
    assert answer["HX-Redirect"] == f"/accounts/login/?next={page}"
    assert b"password" not in answer.content  # no login form to swap into the card


def test_a_current_url_of_another_site_is_not_where_the_login_returns() -> None:
    machine = MachineFactory()
    card = reverse("dashboard:machine-power-card", args=[machine.pk])

    answer = Client().get(
        card, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://elsewhere.example/phish"
    )

    assert answer["HX-Redirect"] == "/accounts/login/?next=/"


def test_a_plain_request_still_gets_the_usual_redirect() -> None:
    machine = MachineFactory()

    answer = Client().get(f"/machines/{machine.pk}/")

    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/?next=")
