"""Schema-driven API tests: schemathesis generates requests for every operation of the OpenAPI
schema Rackpilot serves, valid and invalid, as an admin and as a viewer. No answer may be a
server error, break the schema, or be anything but JSON when it is an error.

``make test`` runs this module on PostgreSQL and again on the embedded default (SQLite and the
embedded Redis). ``API_FUZZ_EXAMPLES`` sets the examples per operation (25 by default); in CI
the examples are derandomized so that a run can be repeated exactly. Run alone with
``-p no:xdist -s`` it ends with how many requests were made, by role and status class.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.exceptions import ValidationError
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from builds.services import lifecycle
from inventory.power.services import power_job_request
from rackpilot.core.actors import Actor
from rackpilot.core.tokens import api_token_issue
from tests.builds_app.conftest import builds_admin_rows
from tests.factories import (
    BMCFactory,
    DiskFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    SiteFactory,
    TagFactory,
    UserFactory,
)
from tests.workflows.factories import TemplateFactory, failed_workflow
from tinkerbell import hookos

SYSTEM = Actor.system("tests")
APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, response_schema_conformance]
# Requests made, by role and status class, printed as the module ends (seen with -s).
SEEN: Counter[tuple[str, str]] = Counter()

# Each operation's examples run against one small fleet, rebuilt for every operation with ids
# from 1 (reset_sequences): generated ids are mostly small numbers, so many requests hit real
# rows instead of answering 404.
pytestmark = [pytest.mark.django_db(transaction=True, reset_sequences=True)]


def _no_download(url: str, target: Any) -> str:
    raise ValidationError({"url": f"{url} is not fetched while fuzzing"})


@pytest.fixture
def fleet(queued_power_jobs: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Commands queue Celery work after their commit; no worker runs here, so nothing is sent.
    monkeypatch.setattr(lifecycle, "enqueue_build", lambda *args: None)
    # A generated HookOS import URL names any host: nothing leaves the machine while fuzzing
    # (the download itself is tested against a loopback server in tests/tinkerbell).
    monkeypatch.setattr(hookos, "_download", _no_download)
    rack = RackFactory(site=SiteFactory())
    for position in (1, 3):
        machine = MachineFactory(rack=rack, position=position)
        NetworkInterfaceFactory(machine=machine)
        DiskFactory(machine=machine)
        BMCFactory(machine=machine)
        machine.tags.add(TagFactory())
    power_job_request(machine=machine, action="status", actor=SYSTEM)
    TemplateFactory()
    failed_workflow()
    # A recipe with a finished build whose artifact rows point at files that are not there.
    builds_admin_rows(SYSTEM)


@pytest.fixture
def admin_token(fleet: None) -> str:
    return _token("admin")


@pytest.fixture
def viewer_token(fleet: None) -> str:
    return _token("viewer")


def _token(role: str) -> str:
    """An API token of a member of ``role``, shared by the examples of one operation (the
    fleet and the users are rebuilt for the next operation)."""
    user = UserFactory(username=f"fuzz-{role}", role=role)
    _, key = api_token_issue(user=user, actor=SYSTEM, description="schema fuzzing")
    return key


def _call(case: Any, role: str, token: str) -> None:
    response = case.call(app=APP, headers={"Authorization": f"Token {token}"})
    SEEN[(role, f"{response.status_code // 100}xx")] += 1
    case.validate_response(response, checks=CHECKS)
    if case.path.startswith("/api/") and response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), (
            f"{case.method} {case.formatted_path} answered {response.status_code} as "
            f"{content_type!r}, not JSON"
        )


@SCHEMA.parametrize()
@FUZZ
def test_the_api_as_an_admin(case: Any, admin_token: str) -> None:
    _call(case, "admin", admin_token)


@SCHEMA.parametrize()
@FUZZ
def test_the_api_as_a_viewer(case: Any, viewer_token: str) -> None:
    _call(case, "viewer", viewer_token)


def teardown_module() -> None:
    if SEEN:
        summary = ", ".join(f"{role} {status}: {n}" for (role, status), n in sorted(SEEN.items()))
        print(f"\nschema fuzzing: {sum(SEEN.values())} requests ({summary})")
