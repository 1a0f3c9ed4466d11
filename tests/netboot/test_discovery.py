"""Discovery: unknown MACs get a discovery script; their agent's hello enrols the machine;
rules accept it and start a workflow; operators accept the rest through the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from inventory.models import Machine
from inventory.states import MachineState
from netboot.discovery import discovery_rule_create
from netboot.models import DiscoveryRule
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import DiskFactory, RackFactory, UserFactory
from tests.netboot.conftest import make_default_build, make_machine
from tests.workflows.conftest import TWO_ACTIONS
from workflows.agent_protocol.tokens import agent_token_authenticate
from workflows.models import AgentToken, Template, Workflow
from workflows.services import templates as template_services
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
MAC = "52:54:00:de:ad:01"
SCRIPT = f"/ipxe/{MAC}/auto.ipxe"

HARDWARE: dict[str, Any] = {
    "cpu": {"threads": 4, "cores": 4, "sockets": 1, "arch": "x86_64", "model": "QEMU Virtual"},
    "memory_bytes": 2 * 1024**3,
    "dmi": {"sys_vendor": "QEMU", "product_serial": "SN-0042"},
    "disks": [
        {"name": "vda", "device": "/dev/vda", "size_bytes": 10 * 1024**3, "serial": "d1"},
        {"name": "vdb", "device": "/dev/vdb", "size_bytes": 20 * 1024**3, "model": "QEMU HD"},
        {"name": "bad", "device": "not a device"},
    ],
    "nics": [
        {"name": "eth0", "mac": MAC.upper(), "physical": True},
        {"name": "eth1", "mac": "52:54:00:de:ad:02", "physical": True},
        {"name": "docker0", "mac": "02:42:ac:11:00:01", "physical": False},
    ],
    "firmware": "bios",
}


@pytest.fixture
def discovery_on(settings: Any) -> None:
    settings.NETBOOT_DISCOVERY = True
    # Where Django's test client asks from, and the subnet of the by-IP test.
    settings.NETBOOT_DISCOVERY_SUBNETS = ["127.0.0.0/8", "10.9.9.0/24"]


@pytest.fixture
def builds(db: None) -> None:
    make_default_build("x86_64")


def discovery_token(client: Client, mac: str = MAC) -> str:
    response = client.get(f"/ipxe/{mac}/auto.ipxe?arch=x86_64&platform=pcbios")
    assert response.status_code == 200, response.content
    found = re.search(r"rackpilot_token=(\S+)", response.content.decode())
    assert found is not None
    return found[1]


def agent(raw: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def hello(raw: str, worker_id: str = MAC, hardware: dict[str, Any] | None = None) -> Any:
    payload = {"worker_id": worker_id, "hardware": HARDWARE if hardware is None else hardware}
    return agent(raw).post("/api/v1/agent/hello/", payload, format="json")


def session_of(raw_nonce: str) -> str:
    """The session token the first hello exchanges a boot nonce for."""
    response = hello(raw_nonce)
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def rule(name: str, template: Template, conditions: str, **values: Any) -> DiscoveryRule:
    return discovery_rule_create(
        actor=SYSTEM, name=name, template=template, conditions=conditions, **values
    )


@pytest.fixture
def template(db: None) -> Template:
    return template_services.template_create(actor=SYSTEM, name="two-steps", body=TWO_ACTIONS)


# --- scripts --------------------------------------------------------------------------------


def test_unknown_mac_is_refused_while_discovery_is_off(client: Client, builds: None) -> None:
    response = client.get(SCRIPT)
    assert response.status_code == 404
    assert "discovery is off" in response.content.decode()
    assert not AgentToken.objects.exists()


def test_unknown_mac_first_asks_ipxe_for_its_arch(
    client: Client, builds: None, discovery_on: None
) -> None:
    response = client.get(SCRIPT)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith("#!ipxe")
    assert f"chain --autofree http://10.0.2.2:8000{SCRIPT}?arch=${{buildarch:uristring}}" in body
    assert "&platform=${platform:uristring}" in body
    assert not AgentToken.objects.exists()


def test_unknown_mac_with_its_arch_boots_hook_with_a_discovery_token(
    client: Client, builds: None, discovery_on: None
) -> None:
    response = client.get(f"{SCRIPT}?arch=x86_64&platform=efi")
    body = response.content.decode()
    assert response.status_code == 200, body
    assert "kernel http://10.0.2.2:8000/artifacts/x86_64/vmlinuz-x86_64" in body
    assert f"worker_id={MAC} hw_addr={MAC}" in body
    assert "rackpilot_discovery=true" in body
    assert "initrd=initramfs-x86_64" in body  # UEFI's iPXE needs it named
    token = AgentToken.objects.get()
    assert (token.purpose, token.mac, token.machine) == ("boot", MAC, None)
    event = Event.objects.get(verb="netboot.discovery_script_served")
    assert event.changes["platform"] == "efi"


def test_a_legacy_bios_ipxe_is_a_32_bit_build_but_boots_x86_64(
    client: Client, builds: None, discovery_on: None
) -> None:
    response = client.get(f"{SCRIPT}?arch=i386&platform=pcbios")
    assert "vmlinuz-x86_64" in response.content.decode()
    assert "initrd=" not in response.content.decode()


def test_an_arch_without_a_build_is_refused_with_the_reason(
    client: Client, builds: None, discovery_on: None
) -> None:
    response = client.get(f"{SCRIPT}?arch=arm64")
    assert response.status_code == 404
    assert response.content.decode() == "no default build for arch aarch64\n"
    response = client.get(f"{SCRIPT}?arch=riscv64")
    assert "no build for iPXE arch 'riscv64'" in response.content.decode()


def test_unknown_source_ip_is_sent_to_the_script_by_mac(
    client: Client, builds: None, discovery_on: None
) -> None:
    response = client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 200
    assert (
        "chain --autofree http://10.0.2.2:8000/ipxe/${mac}/auto.ipxe" in response.content.decode()
    )


# --- enrolment --------------------------------------------------------------------------------


def test_hello_with_a_discovery_token_enrols_the_machine(
    client: Client, builds: None, discovery_on: None
) -> None:
    raw = discovery_token(client)

    response = hello(raw)

    assert response.status_code == 200, response.content
    assert response.json()["machine"] == "discovered-525400dead01"
    machine = Machine.objects.get(hostname="discovered-525400dead01")
    assert machine.state == MachineState.DISCOVERED
    assert (machine.arch, machine.uefi, machine.serial_number) == ("x86_64", False, "SN-0042")
    assert machine.hardware == HARDWARE
    assert machine.last_seen is not None
    interfaces = {i.mac: (i.name, i.is_boot) for i in machine.interfaces.all()}
    # The boot NIC and the other physical one; the bridge is not hardware.
    assert interfaces == {MAC: ("eth0", True), "52:54:00:de:ad:02": ("eth1", False)}
    disks = {d.device: (d.size_bytes, d.model, d.serial) for d in machine.disks.all()}
    assert disks == {
        "/dev/vda": (10 * 1024**3, "", "d1"),
        "/dev/vdb": (20 * 1024**3, "QEMU HD", ""),
    }
    discovered = Event.objects.get(verb="machine.discovered", machine=machine)
    assert discovered.changes["skipped"] == [
        "disk not a device: A disk device is a path under /dev/, e.g. /dev/sda."
    ]
    nonce = AgentToken.objects.get(purpose=AgentToken.Purpose.BOOT)
    assert (nonce.machine, nonce.spent_at is not None) == (machine, True)
    session = AgentToken.objects.get(purpose=AgentToken.Purpose.SESSION)
    assert (session.machine, session.workflow) == (machine, None)
    assert response.json()["token"].startswith("rpa_")
    verbs = list(
        Event.objects.filter(machine=machine)
        .order_by("timestamp", "pk")
        .values_list("verb", flat=True)
    )
    # The boot that enrolled it is on its timeline, first.
    assert verbs[0] == "netboot.discovery_script_served"
    assert "agent.connected" in verbs


def test_the_nonce_is_spent_and_the_session_works_as_the_machines_own(
    client: Client, builds: None, discovery_on: None
) -> None:
    raw = discovery_token(client)
    session = session_of(raw)

    spent = hello(raw)
    assert spent.status_code == 401
    assert "boot nonce already used" in spent.json()["detail"]
    again = hello(session, hardware={**HARDWARE, "memory_bytes": 4 * 1024**3})
    assert again.status_code == 200
    assert "token" not in again.json()  # a session says hello as often as it reconnects
    assert Machine.objects.count() == 1
    assert Machine.objects.get().hardware["memory_bytes"] == 4 * 1024**3
    assert agent(session).get("/api/v1/agent/next-action/").status_code == 204


def test_a_second_boot_before_acceptance_finds_the_same_machine(
    client: Client, builds: None, discovery_on: None
) -> None:
    assert hello(discovery_token(client)).status_code == 200
    # The MAC is known now: netboot serves it as a machine of the inventory.
    response = client.get(SCRIPT)
    assert "rackpilot_discovery" not in response.content.decode()
    assert response.status_code == 200
    assert Machine.objects.count() == 1
    # ... with a nonce of its own, for the machine waiting to be accepted.
    found = re.search(r"rackpilot_token=(\S+)", response.content.decode())
    assert found is not None
    nonce = agent_token_authenticate(found[1])
    assert (nonce.purpose, nonce.machine, nonce.workflow) == ("boot", Machine.objects.get(), None)
    assert hello(found[1]).status_code == 200


def test_a_discovery_token_only_serves_the_mac_it_was_issued_to(
    client: Client, builds: None, discovery_on: None
) -> None:
    raw = discovery_token(client)
    response = hello(raw, worker_id="52:54:00:de:ad:99")
    assert response.status_code == 403
    assert "issued to 52:54:00:de:ad:01, not to 52:54:00:de:ad:99" in response.json()["detail"]
    assert not Machine.objects.exists()


def test_a_discovery_token_cannot_take_over_a_known_machine(
    client: Client, builds: None, discovery_on: None
) -> None:
    raw = discovery_token(client)
    make_machine(hostname="known-01", mac=MAC, ip="10.0.0.5")
    response = hello(raw)
    assert response.status_code == 403
    assert "belongs to known-01, which is ready" in response.json()["detail"]
    assert AgentToken.objects.get().machine is None


def test_turning_discovery_off_stops_its_tokens_from_enrolling(
    client: Client, builds: None, discovery_on: None, settings: Any
) -> None:
    raw = discovery_token(client)
    settings.NETBOOT_DISCOVERY = False
    response = hello(raw)
    assert response.status_code == 403
    assert "discovery is off" in response.json()["detail"]
    assert not Machine.objects.exists()


def test_garbage_hardware_still_enrols_the_boot_nic(
    client: Client, builds: None, discovery_on: None
) -> None:
    raw = discovery_token(client)
    response = hello(raw, hardware={"nics": "eth0", "disks": [1, None], "cpu": "fast"})
    assert response.status_code == 200, response.content
    machine = Machine.objects.get()
    assert [i.mac for i in machine.interfaces.all()] == [MAC]
    assert not machine.disks.exists()


# --- rules ------------------------------------------------------------------------------------


def test_the_first_matching_rule_accepts_the_machine_and_starts_its_workflow(
    client: Client, builds: None, discovery_on: None, template: Template
) -> None:
    other = template_services.template_create(actor=SYSTEM, name="other", body=TWO_ACTIONS)
    rule("big-machines", other, "memory_bytes >= 64G", priority=10)
    rule("disabled", other, "dmi.sys_vendor = QEMU", priority=20, enabled=False)
    rule("qemu", template, "dmi.sys_vendor = QEMU\ndisks.count >= 2", priority=30)
    rule("catch-all", other, "", priority=40)
    raw = discovery_token(client)

    session = session_of(raw)

    machine = Machine.objects.get()
    assert machine.state == MachineState.READY  # provisioning once the first action runs
    workflow = Workflow.objects.get(machine=machine)
    assert workflow.template == template
    assert workflow.state == WorkflowState.PENDING
    applied = Event.objects.get(verb="discovery.rule_applied", machine=machine)
    assert applied.actor_name == "discovery rule qemu"
    assert Event.objects.filter(verb="machine.accepted", machine=machine).exists()
    # The agent picks the work up with its session, which is the workflow's.
    assert AgentToken.objects.get(purpose=AgentToken.Purpose.SESSION).workflow == workflow
    action = agent(session).get("/api/v1/agent/next-action/").json()
    assert action["type"] == "action"
    assert action["action"]["name"] == "write-disk"


def test_a_rule_whose_workflow_cannot_start_leaves_the_machine_discovered(
    client: Client, builds: None, discovery_on: None
) -> None:
    broken = template_services.template_create(
        actor=SYSTEM, name="needs-two-nics", body=TWO_ACTIONS.replace(".device_1", ".device_9")
    )
    rule("broken", broken, "")
    assert hello(discovery_token(client)).status_code == 200
    machine = Machine.objects.get()
    assert machine.state == MachineState.DISCOVERED
    assert not Workflow.objects.exists()
    failed = Event.objects.get(verb="discovery.rule_failed", machine=machine)
    assert "needs-two-nics could not start" in failed.message


def test_no_matching_rule_leaves_the_machine_for_an_operator(
    client: Client, builds: None, discovery_on: None, template: Template
) -> None:
    rule("dell-only", template, "dmi.sys_vendor = Dell Inc.")
    assert hello(discovery_token(client)).status_code == 200
    assert Machine.objects.get().state == MachineState.DISCOVERED
    assert not Workflow.objects.exists()


def test_rules_api_names_the_bad_line_and_dry_runs_a_rule(
    api: APIClient, template: Template, django_assert_num_queries: Any
) -> None:
    bad = api.post(
        "/api/v1/discovery-rules/",
        {"name": "r", "template": "two-steps", "conditions": "arch = x86_64\nmemory >= lots"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["conditions"][0].startswith("line 2: >= compares numbers")
    assert not DiscoveryRule.objects.exists()

    created = api.post(
        "/api/v1/discovery-rules/",
        {"name": "qemu", "template": "two-steps", "conditions": "dmi.sys_vendor = QEMU"},
        format="json",
    )
    assert created.status_code == 201, created.content
    for index, vendor in enumerate(["QEMU", "Dell Inc.", "QEMU"]):
        machine = make_machine(
            hostname=f"disc-{index}", mac=f"52:54:00:00:aa:0{index}", ip=f"10.1.0.{index}"
        )
        Machine.objects.filter(pk=machine.pk).update(
            state=MachineState.DISCOVERED, hardware={"dmi": {"sys_vendor": vendor}}
        )
    with django_assert_num_queries(4):  # rule, machines, their interfaces, their disks
        matches = api.get(f"/api/v1/discovery-rules/{created.json()['id']}/matches/")
    assert sorted(m["hostname"] for m in matches.json()) == ["disc-0", "disc-2"]


# --- acceptance -------------------------------------------------------------------------------


def test_an_operator_accepts_a_discovered_machine_into_a_rack(
    api: APIClient, client: Client, builds: None, discovery_on: None
) -> None:
    assert hello(discovery_token(client)).status_code == 200
    machine = Machine.objects.get()
    rack = RackFactory()

    response = api.post(
        f"/api/v1/machines/{machine.pk}/accept/",
        {"hostname": "web-07", "rack": rack.pk, "position": 7},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["hostname"], body["state"], body["rack"], body["position"]) == (
        "web-07",
        "ready",
        rack.pk,
        7,
    )
    again = api.post(f"/api/v1/machines/{machine.pk}/accept/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "not_discovered"


def test_a_refused_acceptance_changes_nothing(
    api: APIClient, client: Client, builds: None, discovery_on: None
) -> None:
    assert hello(discovery_token(client)).status_code == 200
    machine = Machine.objects.get()
    rack = RackFactory(u_height=10)

    response = api.post(
        f"/api/v1/machines/{machine.pk}/accept/",
        {"hostname": "web-08", "rack": rack.pk, "position": 40},
        format="json",
    )

    assert response.status_code == 400
    assert "position" in response.json()
    machine.refresh_from_db()
    assert (machine.hostname, machine.state) == ("discovered-525400dead01", "discovered")


def test_a_rule_written_later_is_run_over_the_machines_already_waiting(
    api: APIClient, template: Template
) -> None:
    broken = template_services.template_create(
        actor=SYSTEM, name="needs-device-9", body=TWO_ACTIONS.replace(".device_1", ".device_9")
    )
    for index, vendor in enumerate(["QEMU", "Dell Inc.", "QEMU"]):
        machine = make_machine(
            hostname=f"wait-{index}", mac=f"52:54:00:00:bb:0{index}", ip=f"10.2.0.{index}"
        )
        DiskFactory(machine=machine, device="/dev/vda")  # the template writes to disk 0
        Machine.objects.filter(pk=machine.pk).update(
            state=MachineState.DISCOVERED, hardware={"dmi": {"sys_vendor": vendor}}
        )
    qemu = rule("qemu", template, "dmi.sys_vendor = QEMU", enabled=False)

    response = api.post(f"/api/v1/discovery-rules/{qemu.pk}/apply/")

    assert response.status_code == 200, response.content
    started = response.json()["started"]
    assert [s["machine"] for s in started] == ["wait-0", "wait-2"]
    assert response.json()["failed"] == []
    states = dict(Machine.objects.values_list("hostname", "state"))
    assert states == {"wait-0": "ready", "wait-1": "discovered", "wait-2": "ready"}
    assert Workflow.objects.filter(template=template).count() == 2
    # A rule whose template cannot render for the machine leaves it waiting and says why.
    dell = rule("dell", broken, "dmi.sys_vendor = Dell Inc.")
    response = api.post(f"/api/v1/discovery-rules/{dell.pk}/apply/")
    assert response.json() == {"started": [], "failed": ["wait-1"]}
    assert Machine.objects.get(hostname="wait-1").state == "discovered"


def test_running_a_rule_needs_the_rights_to_accept_and_start(
    template: Template, operator: Any
) -> None:
    qemu = rule("qemu", template, "")
    # An accepter who may not start workflows (accept_machine alone) is refused the rule run.
    accepter = UserFactory(username="accepter", permissions=["inventory.accept_machine"])
    client = APIClient()
    client.force_authenticate(accepter)
    response = client.post(f"/api/v1/discovery-rules/{qemu.pk}/apply/")
    assert response.status_code == 403
