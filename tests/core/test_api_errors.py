"""Errors under ``/api/`` answer JSON with a ``detail``; the dashboard keeps its HTML pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.middleware.csrf import _get_failure_view
from django.test import Client, RequestFactory
from django.urls import get_resolver

from inventory.api.viewsets import SiteViewSet

pytestmark = pytest.mark.django_db


def _json(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = json.loads(response.content)
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


@pytest.fixture
def browser() -> Client:
    # A real server answers an exception with the 500 page instead of raising it.
    return Client(raise_request_exception=False)


def test_unknown_api_path_is_a_json_404(browser: Client, operator: Any) -> None:
    browser.force_login(operator)
    response = browser.get("/api/v1/nope/")
    assert response.status_code == 404
    assert _json(response)["detail"] == "Not found."


def test_unknown_dashboard_path_is_the_html_404_page(browser: Client, operator: Any) -> None:
    browser.force_login(operator)
    response = browser.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Nothing here" in response.content


def test_an_exception_in_an_api_view_is_a_json_500(
    browser: Client, operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(SiteViewSet, "list", broken)
    browser.force_login(operator)
    response = browser.get("/api/v1/sites/")
    assert response.status_code == 500
    body = _json(response)
    assert "caught fire" not in body["detail"], "nothing about the failure reaches the client"


def test_an_exception_in_a_dashboard_view_is_the_html_500_page(
    browser: Client, operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory import selectors

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "machine_counts_by_state", broken)
    browser.force_login(operator)
    response = browser.get("/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_a_bad_host_header_on_the_api_is_a_json_400(browser: Client, operator: Any) -> None:
    browser.force_login(operator)
    response = browser.get("/api/v1/sites/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    _json(response)


def test_a_malformed_json_body_is_a_json_400(browser: Client, operator: Any) -> None:
    browser.force_login(operator)
    response = browser.post("/api/v1/sites/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in _json(response)["detail"]


def test_a_permission_error_outside_drf_is_json_under_api_html_elsewhere() -> None:
    handler = get_resolver().resolve_error_handler(403)
    api = handler(RequestFactory().get("/api/v1/sites/"), PermissionDenied("no access"))
    assert api.status_code == 403
    assert _json(api)["detail"] == "no access"

    page = handler(RequestFactory().get("/sites/"), PermissionDenied("no access"))
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


def test_a_dashboard_permission_error_is_the_html_403_page(browser: Client, viewer: Any) -> None:
    browser.force_login(viewer)
    response = browser.get("/machines/import/")
    assert response.status_code == 403
    assert b"You may not do that" in response.content


def test_csrf_failure_is_json_under_api_and_html_elsewhere() -> None:
    failure_view = _get_failure_view()
    api = failure_view(RequestFactory().post("/api/v1/sites/"), reason="CSRF cookie not set.")
    assert api.status_code == 403
    assert _json(api)["detail"] == "CSRF Failed: CSRF cookie not set."

    page = failure_view(RequestFactory().post("/accounts/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


def test_a_session_post_to_the_api_without_a_csrf_token_is_a_json_403(operator: Any) -> None:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(operator)
    response = client.post("/api/v1/sites/", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert _json(response)["detail"].startswith("CSRF Failed")


def test_a_refused_value_that_utf8_cannot_carry_is_echoed_as_an_escape(admin_api: Any) -> None:
    # A choice field's message repeats the value it refused; a lone surrogate in it made the
    # JSON renderer fail and the answer a 500.
    response = admin_api.post(
        "/api/v1/recipes/",
        data='{"name": "r", "config": "kernel: {}", "arches": ["\\ud800"]}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.content.isascii()
    assert "\ud800" in json.dumps(json.loads(response.content)["arches"], ensure_ascii=False)
