"""The authorization matrix, generated from the URL configuration: every route and method, for
every kind of caller (anonymous, each role, the agents of two machines, and a boot nonce that
its machine's first hello has already spent, as an action container reading /proc/cmdline
would find it).

A new route joins the matrix by itself: it fails here until its URL kwargs can be filled in
(``KWARGS`` / ``OBJECT_BY_NAME``) and it falls in a class (public, agent, page, API), and an API
action fails until it declares who may use it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from builds.services import lifecycle
from builds.services import recipes as recipe_services
from inventory.models import Machine, PowerJob
from inventory.power import services as power_services
from netboot.models import DiscoveryRule
from rackpilot.core.actors import Actor
from rackpilot.core.api.permissions import RolePermission, required_permissions
from rackpilot.core.consumers import EventStreamConsumer
from rackpilot.core.models import Event
from rackpilot.routing import agent_urlpatterns, browser_urlpatterns
from tests.builds_app.conftest import RECIPE, queue_one
from tests.factories import (
    BMCFactory,
    DiskFactory,
    RackFactory,
    SiteFactory,
    TagFactory,
    UserFactory,
)
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.rest import IsAgent
from workflows.agent_protocol.tokens import agent_token_issue, boot_nonce_exchange, boot_nonce_issue
from workflows.models import Action
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

SYSTEM = Actor.system("tests")
MAC_A = "52:54:00:aa:0a:01"
MAC_B = "52:54:00:bb:0b:01"
DENIED = (401, 403)

# Routes anyone may reach (machines booting, probes, the login itself), or, "signed-in", any
# authenticated user whatever their role. Keyed by URL name, each with why.
PUBLIC: dict[str, tuple[str, str]] = {
    "healthz": ("anyone", "liveness probe of the load balancer, no data"),
    "metrics": ("anyone", "Prometheus scrape, counters only"),
    "login": ("anyone", "the sign-in form"),
    "logout": ("anyone", "signing out needs no right"),
    "netboot:script-by-ip": ("anyone", "iPXE script fetched by a booting machine"),
    "netboot:script-by-mac": ("anyone", "iPXE script fetched by a booting machine"),
    "netboot:artifact": ("anyone", "kernel/initramfs downloaded by iPXE"),
    "netboot:meta-data": ("anyone", "cloud-init metadata, read by the machine by source IP"),
    "netboot:user-data": ("anyone", "cloud-init user-data, read by the machine by source IP"),
    "api-root": ("signed-in", "DRF's index of the API's endpoints"),
    "schema": ("signed-in", "OpenAPI schema (IsAuthenticated)"),
    "swagger-ui": ("signed-in", "Swagger UI over the schema (IsAuthenticated)"),
}

# A well-formed body for the agent routes naming an action: another machine's agent must be
# stopped by the ownership check, not merely by the validation of an empty body.
AGENT_BODIES: dict[str, dict[str, Any]] = {
    "agent-action-state": {"attempt": 1, "state": "running"},
    "agent-logs": {"attempt": 1, "first_seq": 1, "lines": [{"stream": "stdout", "text": "x"}]},
}

# Route-kwarg values by kwarg name; a "pk" (or a viewset's lookup) comes from OBJECT_BY_NAME.
KWARGS: dict[str, Any] = {
    "action_id": lambda w: w["action"].pk,
    "workflow_id": lambda w: w["workflow"].pk,
    "build_id": lambda w: w["build"].pk,
    "machine_pk": lambda w: w["machine"].pk,
    "mac": lambda w: w["nic"].mac,
    "arch": lambda w: "x86_64",
    "name": lambda w: "vmlinuz-x86_64",
    "version": lambda w: "2009-04-04",
    "path": lambda w: "instance-id",
}
LOOKUP_KWARGS = ("pk", "slug")
# The object a route's pk names, by the URL name's prefix (longest first).
OBJECT_BY_NAME = [
    ("discovery-rule-", "rule"),
    ("power-job-", "power_job"),
    ("rule-", "rule"),
    ("machine-", "machine"),
    ("workflow-", "workflow"),
    ("template-", "template"),
    ("recipe-", "recipe"),
    ("build-", "build"),
    ("rack-", "rack"),
    ("site-", "site"),
    ("tag-", "tag"),
    ("interface-", "nic"),
    ("disk-", "disk"),
    ("bmc-", "bmc"),
    ("event-", "event"),
]
PAGE_METHODS = ("get", "post")
HANDLERS = ("get", "post", "put", "patch", "delete")


@dataclass
class Route:
    name: str  # namespaced
    kwargs: tuple[str, ...]
    callback: Any
    kind: str = ""  # public / agent / page / api / "" (none)
    methods: dict[str, str | None] = field(default_factory=dict)  # method -> DRF action
    problems: list[str] = field(default_factory=list)

    @property
    def view_class(self) -> Any:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(":", 1)[-1]


def _walk(resolver: URLResolver, namespace: tuple[str, ...], kwargs: tuple[str, ...]):
    for pattern in resolver.url_patterns:
        names = tuple(pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            inner = namespace + ((pattern.namespace,) if pattern.namespace else ())
            if "admin" not in inner:
                yield from _walk(pattern, inner, kwargs + names)
        elif isinstance(pattern, URLPattern) and "format" not in names + kwargs:
            full = ":".join((*namespace, pattern.name or "<unnamed>"))
            yield Route(full, kwargs + names, pattern.callback)


def _classify(route: Route) -> None:
    cls = route.view_class
    permissions = list(getattr(cls, "permission_classes", ()) or ())
    actions = getattr(route.callback, "actions", None)
    if route.name in PUBLIC:
        route.kind = "public"
    elif cls is not None and IsAgent in permissions:
        route.kind = "agent"
    elif cls is None and hasattr(route.callback, "required_permissions"):
        route.kind = "page"
    elif cls is not None and RolePermission in permissions:
        route.kind = "api"
    else:
        route.problems.append(
            f"{route.name} is in no class: add it to PUBLIC with a reason, or guard it "
            "(rackpilot.core.access.requires / RolePermission / IsAgent)"
        )
    if actions:
        route.methods = {m: a for m, a in actions.items() if m not in ("head", "options")}
    elif cls is not None:
        route.methods = {m: None for m in HANDLERS if hasattr(cls, m)}
    else:
        route.methods = dict.fromkeys(PAGE_METHODS)
    for kwarg in route.kwargs:
        if kwarg in LOOKUP_KWARGS or kwarg == getattr(cls, "lookup_url_kwarg", None):
            if not any(route.short_name.startswith(p) for p, _ in OBJECT_BY_NAME):
                route.problems.append(
                    f"{route.name}: no object for its '{kwarg}': add the name to OBJECT_BY_NAME"
                )
        elif kwarg not in KWARGS:
            route.problems.append(f"{route.name}: unknown URL kwarg '{kwarg}': add it to KWARGS")


def _routes() -> list[Route]:
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver(), (), ()):
        seen.setdefault(route.name, route)  # the routers' api-root repeats: reverse finds one
    for route in seen.values():
        _classify(route)
    return list(seen.values())


ROUTES = _routes()
PAIRS = [(route, method) for route in ROUTES for method in route.methods]


def _url(route: Route, world: dict[str, Any]) -> str:
    cls = route.view_class
    lookup_field = getattr(cls, "lookup_field", "pk") or "pk"
    values = {}
    for kwarg in route.kwargs:
        if kwarg in KWARGS and kwarg != getattr(cls, "lookup_url_kwarg", None):
            values[kwarg] = KWARGS[kwarg](world)
            continue
        key = next(k for p, k in OBJECT_BY_NAME if route.short_name.startswith(p))
        field_name = "pk" if kwarg == "pk" and lookup_field == "pk" else lookup_field
        values[kwarg] = getattr(world[key], field_name)
    return reverse(route.name, kwargs=values)


def _requirement(route: Route, method: str) -> tuple[str, ...] | None:
    """The permissions a user needs for ``method`` on ``route`` (pages and the API)."""
    if route.kind == "page":
        needed = tuple(route.callback.required_permissions)
        if method == "post":
            needed += tuple(route.callback.post_permissions)
        return needed
    view = route.view_class()
    view.action = route.methods[method]
    view.kwargs, view.args, view.request, view.format_kwarg = {}, (), None, None
    return required_permissions(view, method.upper())


# --- the world -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """The users' passwords are never checked here: hash them cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: None, monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Any):
    settings.BUILD_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.BUILD_CACHE_DIR = tmp_path / "cache"
    monkeypatch.setattr(power_services, "enqueue_power_job", lambda *a, **k: None)
    monkeypatch.setattr(lifecycle, "enqueue_build", lambda *a, **k: None)
    site = SiteFactory()
    rack = RackFactory(site=site)
    machine = make_machine("matrix-a", MAC_A)
    bmc = BMCFactory(machine=machine)
    other = make_machine("matrix-b", MAC_B)
    template = template_services.template_create(actor=SYSTEM, name="two", body=TWO_ACTIONS)
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    action = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="hook", config=RECIPE, arches=["x86_64"]
    )
    rule = DiscoveryRule.objects.create(
        name="matrix", conditions=f"mac = {MAC_B}", template=template
    )
    objects = {
        "site": site,
        "rack": rack,
        "tag": TagFactory(),
        "machine": machine,
        "other": other,
        "nic": machine.interfaces.get(is_boot=True),
        "disk": DiskFactory(machine=other, device="/dev/sdb"),
        "bmc": bmc,
        "template": template,
        "workflow": workflow,
        "action": action,
        "recipe": recipe,
        "build": queue_one(recipe),
        "rule": rule,
        "power_job": PowerJob.objects.create(machine=other, action=PowerJob.Action.ON),
    }
    objects["event"] = Event.objects.order_by("-pk").first()
    assert objects["event"] is not None and action is not None
    return objects


@pytest.fixture
def callers(world: dict[str, Any], viewer: Any, operator: Any, admin_member: Any):
    """(label, client, user or None, agent machine or None), the destructive ones last."""
    _, raw_a = agent_token_issue(machine=world["machine"], actor=SYSTEM)
    _, raw_b = agent_token_issue(machine=world["other"], actor=SYSTEM)
    _, nonce = boot_nonce_issue(
        machine=world["machine"], workflow=world["workflow"], mac=MAC_A, actor=SYSTEM
    )
    spender = APIClient()
    spender.credentials(HTTP_AUTHORIZATION=f"Bearer {nonce}")
    assert (
        spender.post("/api/v1/agent/hello/", {"worker_id": MAC_A}, format="json").status_code == 200
    )
    rows = [("anonymous", None, None), ("spent-nonce", None, nonce)]
    rows += [("agent-b", None, raw_b), ("viewer", viewer, None), ("operator", operator, None)]
    rows += [("agent-a", None, raw_a), ("admin", admin_member, None)]
    built = []
    for label, user, raw in rows:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        if raw is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        built.append((label, client, user))
    return built


def _send(client: APIClient, method: str, url: str) -> Any:
    if method in ("post", "put", "patch"):
        return getattr(client, method)(url, {}, format="json")
    return getattr(client, method)(url)


def _verdict(route: Route, method: str, label: str, user: Any, status: int, location: str):
    """None when ``status`` is what ``label`` should get, else why not."""
    if status >= 500:
        return "a server error"
    if route.kind == "public":
        who = PUBLIC[route.name][0]
        if who == "nobody":
            return None if status in DENIED else "open, though it declares no requirement"
        if who == "signed-in" and user is None:
            return None if status in DENIED else "open to a caller that is not signed in"
        return "refused" if status in DENIED else None
    if route.kind == "agent":
        if label == "spent-nonce":
            return None if status == 401 else "a spent boot nonce was taken (want 401)"
        if label == "agent-a":
            return "refused to the machine's own agent" if status in DENIED else None
        if label == "agent-b":
            if "action_id" not in route.kwargs or status in (403, 404):
                return None
            if status == 400 and route.name in AGENT_BODIES:
                return None  # the empty body; the well-formed one is checked after
            return "another machine's agent reached machine A's action (want 403/404)"
        return None if status in DENIED else "open to a caller that is not an agent"
    needed = _requirement(route, method) or ()
    if user is None:  # anonymous and agents
        if route.kind == "page":
            if status == 405:
                return None
            login = reverse("login")
            ok = status == 302 and location.startswith(login)
            return None if ok else f"want a redirect to {login}"
        return None if status in DENIED else "open without a signed-in user"
    if user.has_perms(needed):
        if status in DENIED:
            return f"refused though the user holds {needed}"
        return None
    if route.kind == "page" and status == 405:
        return None
    return None if status == 403 else f"want 403: the user lacks some of {needed}"


@pytest.mark.parametrize(("route", "method"), PAIRS, ids=[f"{r.name}-{m}" for r, m in PAIRS])
def test_route(route: Route, method: str, world: dict[str, Any], callers: list[Any]) -> None:
    assert not route.problems, "\n".join(route.problems)
    if route.kind in ("api", "page"):
        needed = _requirement(route, method)
        assert needed is not None, (
            f"{route.name} {method.upper()} (action {route.methods[method]!r}) declares no "
            "permission: add it to the viewset's action_permissions (or required_permissions)"
        )
    url = _url(route, world)
    wrong = []
    for label, client, user in callers:
        response = _send(client, method, url)
        why = _verdict(
            route, method, label, user, response.status_code, response.get("Location", "")
        )
        if why:
            wrong.append(f"{label}: {response.status_code} ({why})")
    if route.name in AGENT_BODIES:  # agent B with a body that passes validation
        client = next(c for label, c, _ in callers if label == "agent-b")
        response = client.post(url, AGENT_BODIES[route.name], format="json")
        if response.status_code not in (403, 404):
            wrong.append(f"agent-b, well-formed body: {response.status_code} (want 403/404)")
    assert not wrong, f"{method.upper()} {url} [{route.kind}]\n" + "\n".join(wrong)


# --- sockets ---------------------------------------------------------------------------------

WS_ROLES = ("anonymous", "no-role", "viewer", "operator", "admin")
WS_ROUTES = [str(p.pattern) for p in browser_urlpatterns]


def _socket_world() -> dict[str, Any]:
    machine = make_machine("ws-a", MAC_A)
    template = template_services.template_create(actor=SYSTEM, name="ws", body=TWO_ACTIONS)
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="ws", config=RECIPE, arches=["x86_64"]
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM)
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    return {"workflow": workflow, "build": build, "machine": machine}


def _ws_user(role: str) -> Any:
    if role == "anonymous":
        return AnonymousUser()
    return UserFactory(username=f"ws-{role}", role=None if role == "no-role" else role)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("role", WS_ROLES)
@pytest.mark.parametrize("route", WS_ROUTES)
async def test_browser_socket(route: str, role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "enqueue_build", lambda *a, **k: None)
    pattern = next(p for p in browser_urlpatterns if str(p.pattern) == route)
    unknown = set(pattern.pattern.regex.groupindex) - set(KWARGS)
    assert not unknown, f"{route}: unknown kwargs {unknown}: add them to KWARGS"
    world = await database_sync_to_async(_socket_world)()
    values = {k: KWARGS[k](world) for k in pattern.pattern.regex.groupindex}
    path = "/" + route
    for kwarg, value in values.items():
        path = path.replace(f"<int:{kwarg}>", str(value)).replace(f"<{kwarg}>", str(value))
    consumer = pattern.callback.consumer_class
    permission = sys.modules[consumer.__module__].VIEW_PERMISSION
    user = await database_sync_to_async(_ws_user)(role)
    allowed = role != "anonymous" and await database_sync_to_async(user.has_perm)(permission)
    assert allowed == (role in ("viewer", "operator", "admin")), permission

    ws = WebsocketCommunicator(URLRouter(browser_urlpatterns), path)
    ws.scope["user"] = user
    connected, code = await ws.connect()

    if allowed:
        assert connected, f"{path} refused {role} ({code})"
        await ws.disconnect()
    else:
        # the event stream tells "not signed in" (4401) from "not allowed" (4403)
        anon_code = 4401 if consumer is EventStreamConsumer else 4403
        want = anon_code if role == "anonymous" else 4403
        assert (connected, code) == (False, want), f"{path} for {role}"


def _agent_world() -> str:
    machine = make_machine("ws-agent", MAC_A)
    _, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    return raw


def _spent_nonce() -> str:
    machine = Machine.objects.get(hostname="ws-agent")
    template = template_services.template_create(actor=SYSTEM, name="ws-n", body=TWO_ACTIONS)
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    nonce, raw = boot_nonce_issue(machine=machine, workflow=workflow, mac=MAC_A, actor=SYSTEM)
    boot_nonce_exchange(nonce=nonce, actor=SYSTEM)
    return raw


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("token", ["none", "bad", "spent-nonce", "agent-a"])
async def test_agent_socket(token: str) -> None:
    raw = await database_sync_to_async(_agent_world)()
    if token == "spent-nonce":
        raw = await database_sync_to_async(_spent_nonce)()
    headers = {"none": [], "bad": [(b"authorization", b"Bearer not-a-token")]}.get(
        token, [(b"authorization", f"Bearer {raw}".encode())]
    )
    ws = WebsocketCommunicator(URLRouter(agent_urlpatterns), "/ws/agent/", headers=headers)
    connected, code = await ws.connect()
    if token == "agent-a":
        assert connected, code
        await ws.disconnect()
    else:
        assert (connected, code) == (False, 4401)


# --- the size of the matrix ------------------------------------------------------------------

CALLERS = ("anonymous", "spent-nonce", "viewer", "operator", "admin", "agent-a", "agent-b")
MIN_PAIRS = 100


def test_the_matrix_covers_the_url_configuration() -> None:
    kinds = {
        kind: sum(r.kind == kind for r in ROUTES) for kind in ("public", "agent", "page", "api")
    }
    ws_cases = len(WS_ROUTES) * len(WS_ROLES) + 4
    print(
        f"\nauthorization matrix: {len(ROUTES)} routes {kinds}, {len(PAIRS)} route x method "
        f"pairs, x {len(CALLERS)} callers = {len(PAIRS) * len(CALLERS)} requests; "
        f"{ws_cases} socket cases"
    )
    assert len(PAIRS) >= MIN_PAIRS
    assert kinds["api"] and kinds["page"] and kinds["agent"]
