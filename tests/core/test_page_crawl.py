"""Every dashboard page reachable from the home page answers without a server error, for a
user who may change everything and for one who may only look — on whichever database the run
uses (``make test`` runs this module on PostgreSQL and again on SQLite)."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from builds.models import BuildRecipe
from inventory.demo import demo_fleet_load
from inventory.models import Machine
from inventory.power.services import power_job_request
from rackpilot.core.actors import Actor
from tests.workflows.factories import TemplateFactory, failed_workflow

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
# Not pages: machines' endpoints, the API, the admin (its own test), logging out.
SKIPPED = ("/api/", "/admin/", "/accounts/logout/", "/ipxe/", "/artifacts/", "/static/", "/20")
LINK = re.compile(r'href="([^"#]+)"')
# Enough pages to reach each kind (list, detail, form) without walking every machine.
MAX_PAGES = 250


@pytest.fixture
def fleet(queued_power_jobs: list[int]) -> None:
    demo_fleet_load(actor=SYSTEM)
    TemplateFactory(name="crawl-template")
    failed_workflow()
    BuildRecipe.objects.create(name="crawl-recipe", config="kernel:\n  image: k:1\n")
    machine = Machine.objects.filter(bmc__isnull=False).first()
    power_job_request(machine=machine, action="status", actor=SYSTEM)


def _crawl(client: Client) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = deque(["/"])
    per_shape: dict[str, int] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        # At most three pages of one shape (/machines/<n>/...): the kinds, not every row.
        shape = re.sub(r"\d+", "N", urlsplit(path).path)
        per_shape[shape] = per_shape.get(shape, 0) + 1
        if per_shape[shape] > 3:
            continue
        response = client.get(path)
        seen[path] = response.status_code
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        for href in LINK.findall(response.content.decode()):
            target = urljoin(path, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if parts.path.startswith(SKIPPED) or target in seen:
                continue
            queue.append(target)
    return seen


@pytest.mark.parametrize("who", ["operator_client", "viewer_client"])
def test_every_page_reachable_from_home_answers_without_a_server_error(
    fleet: None, who: str, request: pytest.FixtureRequest
):
    client: Client = request.getfixturevalue(who)
    seen = _crawl(client)
    errors = {path: code for path, code in seen.items() if code >= 500}
    assert not errors, errors
    # the crawl reached the pages of every app
    for prefix in (
        "/machines/",
        "/racks/",
        "/workflows/",
        "/templates/",
        "/builds/",
        "/power-jobs/",
    ):
        assert any(path.startswith(prefix) for path in seen), prefix
