"""REST API tokens: stored as digests only, expiring, revocable, issued through one service."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from rackpilot.core.models import Event
from rackpilot.core.tokens import api_token_id, api_token_issue, api_token_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MACHINES = "/api/v1/machines/"
BOOTSTRAP_TOKEN = re.compile(r"API token:\s+(\S+)\s+\(header 'Authorization: Token <key>'\)")


def api_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def events_text() -> str:
    return json.dumps(list(Event.objects.values()), default=str)


@pytest.fixture
def superuser():
    return UserFactory(username="root-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


# --- issuing ---------------------------------------------------------------------------------


def test_an_issued_token_authenticates_with_the_token_header(viewer, actor):
    _token, key = api_token_issue(user=viewer, actor=actor, description="grafana")

    response = api_with(key).get(MACHINES)

    assert response.status_code == 200
    assert response.wsgi_request.user == viewer


def test_only_a_digest_of_the_key_is_stored(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)

    row = AuthToken.objects.get(pk=token.pk)
    assert key.startswith("rpt_")
    assert row.digest == hashlib.sha512(key.encode()).hexdigest()
    assert key not in json.dumps(model_to_dict(row), default=str)
    assert key not in str(row)


def test_a_token_expires_after_api_token_ttl_hours(viewer, actor, settings):
    settings.API_TOKEN_TTL_HOURS = 24

    before = timezone.now()
    token, _key = api_token_issue(user=viewer, actor=actor)

    assert token.expiry is not None
    assert before + timedelta(hours=24) <= token.expiry <= timezone.now() + timedelta(hours=24)


def test_the_default_lifetime_is_ninety_days(viewer, actor):
    token, _key = api_token_issue(user=viewer, actor=actor)

    assert token.expiry is not None
    assert timedelta(days=89) < token.expiry - timezone.now() <= timedelta(days=90)


def test_a_lifetime_of_zero_hours_never_expires(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor, ttl_hours=0)

    assert token.expiry is None
    assert api_with(key).get(MACHINES).status_code == 200


def test_a_negative_lifetime_is_refused(viewer, actor):
    with pytest.raises(ValidationError, match="0 \\(never expires\\) or more hours"):
        api_token_issue(user=viewer, actor=actor, ttl_hours=-1)

    assert not AuthToken.objects.exists()
    assert not Event.objects.exists()


def test_an_inactive_user_gets_no_token(actor):
    user = UserFactory(username="gone", is_active=False)

    with pytest.raises(ValidationError, match="inactive"):
        api_token_issue(user=user, actor=actor)

    assert not AuthToken.objects.exists()


def test_issuing_records_an_event_with_the_description_and_without_the_key(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor, description="grafana dashboards")

    event = Event.objects.get(verb="api_token.issued")
    assert (event.actor_name, event.object_repr) == ("tests", "viewer")
    assert event.changes["token_id"] == [None, api_token_id(token)]
    assert "grafana dashboards" in event.message
    assert key not in events_text()
    assert token.token_key not in events_text()


# --- refusing --------------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_401(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    response = api_with(key).get(MACHINES)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_fails_at_once(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)
    client = api_with(key)
    assert client.get(MACHINES).status_code == 200

    assert api_token_revoke(token=token, actor=actor) is True

    assert client.get(MACHINES).status_code == 401
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_revoking_records_one_event_without_the_key(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)

    api_token_revoke(token=token, actor=actor)
    again = api_token_revoke(token=token, actor=actor)

    assert again is False
    event = Event.objects.get(verb="api_token.revoked")
    assert event.object_repr == "viewer"
    assert api_token_id(token) in event.message
    assert key not in events_text()


def test_a_token_of_a_user_deactivated_later_is_refused(viewer, actor):
    _token, key = api_token_issue(user=viewer, actor=actor)
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    assert api_with(key).get(MACHINES).status_code == 401


def test_unknown_and_old_plaintext_style_keys_are_refused(viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)

    assert api_with("0123456789abcdef0123456789abcdef01234567").get(MACHINES).status_code == 401
    # Same lookup prefix, different key: the digest decides.
    assert api_with(key[:-1] + ("0" if key[-1] != "0" else "1")).get(MACHINES).status_code == 401
    assert api_with(token.digest).get(MACHINES).status_code == 401


# --- bootstrap and the command ---------------------------------------------------------------


def test_the_token_bootstrap_prints_works_and_expires_like_every_token():
    out = io.StringIO()
    call_command("bootstrap", "--no-demo", stdout=out)

    key = BOOTSTRAP_TOKEN.search(out.getvalue()).group(1)  # type: ignore[union-attr]
    assert api_with(key).get(MACHINES).status_code == 200
    token = AuthToken.objects.get(user__username="admin")
    assert token.expiry is not None
    assert Event.objects.filter(verb="api_token.issued", object_repr="admin").exists()
    assert key not in events_text()


def create_api_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_prints_a_working_key_once(viewer):
    key, note = create_api_token("viewer", "--description", "nightly export")

    assert api_with(key).get(MACHINES).status_code == 200
    token = AuthToken.objects.get(user=viewer)
    assert f"API token {api_token_id(token)} for viewer, expires " in note
    assert key not in note
    event = Event.objects.get(verb="api_token.issued")
    assert (event.actor_kind, event.actor_name) == ("system", "create_api_token")
    assert "nightly export" in event.message
    assert key not in events_text()


def test_the_command_takes_a_lifetime_in_hours(viewer):
    create_api_token("viewer", "--ttl-hours", "2")
    _key, note = create_api_token("viewer", "--ttl-hours", "0")

    expiries = sorted(AuthToken.objects.values_list("expiry", flat=True), key=lambda e: e is None)
    assert timedelta(hours=1) < expiries[0] - timezone.now() <= timedelta(hours=2)
    assert expiries[1] is None
    assert "never expires" in note


def test_the_command_refuses_an_unknown_user_and_a_negative_lifetime(viewer):
    with pytest.raises(CommandError, match="no user named nobody"):
        create_api_token("nobody")
    with pytest.raises(CommandError, match="or more hours"):
        create_api_token("viewer", "--ttl-hours", "-5")

    assert not AuthToken.objects.exists()


# --- the admin -------------------------------------------------------------------------------


def token_admin_url(view: str, *args: object) -> str:
    meta = AuthToken._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_the_admin_lists_tokens_without_keys_or_editable_digests(admin_client, viewer, actor):
    token, key = api_token_issue(user=viewer, actor=actor)

    changelist = admin_client.get(token_admin_url("changelist"))
    searched = admin_client.get(token_admin_url("changelist"), {"q": api_token_id(token)})
    change = admin_client.get(token_admin_url("change", token.pk))

    assert changelist.status_code == change.status_code == 200
    assert api_token_id(token) in changelist.content.decode()
    assert list(searched.context["cl"].result_list) == [token]
    for page in (changelist, change):
        html = page.content.decode()
        assert key not in html
        assert token.token_key not in html
        assert 'name="digest"' not in html
        assert 'name="expiry"' not in html


def test_the_admin_issues_no_tokens_and_edits_none(admin_client, viewer, actor):
    token, _key = api_token_issue(user=viewer, actor=actor)
    expiry = token.expiry

    add = admin_client.get(token_admin_url("add"))
    post = admin_client.post(
        token_admin_url("change", token.pk), {"digest": "0" * 128, "user": viewer.pk}
    )

    assert add.status_code == 403
    assert post.status_code == 403
    assert AuthToken.objects.get().digest == token.digest
    assert AuthToken.objects.get().expiry == expiry


def test_deleting_in_the_admin_revokes_and_records_the_user(admin_client, superuser, viewer, actor):
    first, first_key = api_token_issue(user=viewer, actor=actor)
    second, second_key = api_token_issue(user=viewer, actor=actor)

    one = admin_client.post(token_admin_url("delete", first.pk), {"post": "yes"})
    bulk = admin_client.post(
        token_admin_url("changelist"),
        {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"},
    )

    assert one.status_code == bulk.status_code == 302
    assert not AuthToken.objects.exists()
    assert api_with(first_key).get(MACHINES).status_code == 401
    assert api_with(second_key).get(MACHINES).status_code == 401
    revoked = Event.objects.filter(verb="api_token.revoked")
    assert set(revoked.values_list("actor_name", flat=True)) == {superuser.username}
    assert revoked.count() == 2
