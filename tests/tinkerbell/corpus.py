# ruff: noqa: E501 - the tables keep one file per entry, as INDEX.md lists them
"""The Tinkerbell conformance corpus (../shared/conformance/tinkerbell), read at test time.

The files are never copied into the repository. Under CI a missing corpus fails the tests;
locally they skip and say why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS_PART = Path("shared/conformance/tinkerbell")
# Where the corpus lives on the project's machines, for a checkout that is not beside it (CI
# may test a fresh clone anywhere).
MACHINE_CORPUS = Path("/work") / CORPUS_PART


def _find_corpus() -> Path:
    """RACKPILOT_CONFORMANCE_DIR if set; else ``shared/conformance/tinkerbell`` beside the
    checkout or beside one of its parents; else the machines' own copy."""
    if os.environ.get("RACKPILOT_CONFORMANCE_DIR"):
        return Path(os.environ["RACKPILOT_CONFORMANCE_DIR"])
    for parent in ROOT.parents:
        if (parent / CORPUS_PART).is_dir():
            return parent / CORPUS_PART
    return MACHINE_CORPUS


CORPUS = _find_corpus()
KINDS = ("templates", "hardware", "workflows")


def corpus_dir(kind: str) -> Path:
    folder = CORPUS / kind
    if not folder.is_dir():
        reason = f"the conformance corpus is not at {folder}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)
    return folder


def corpus_files(kind: str) -> list[str]:
    """File names, globbed when the tests are collected (a file added later is covered)."""
    folder = CORPUS / kind
    if not folder.is_dir():
        return ["(corpus missing)"]
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".csv"))


def read(kind: str, name: str) -> str:
    return (corpus_dir(kind) / name).read_text(encoding="utf-8")


def substitute(text: str, values: dict[str, str]) -> str:
    """The pre-Tinkerbell step a file's header names: envsubst ``$VAR``/``${VAR}`` of the
    given names, Helm's ``__X__`` replace, doc ``<X>`` or CAPT's own first-stage ``{{.X}}``;
    each key is written as it appears in the file."""
    for key, value in values.items():
        if key.startswith("$"):
            name = re.escape(key[1:])
            text = re.sub(rf"\$(?:{name}\b|\{{{name}\}})", value, text)
        else:
            text = text.replace(key, value)
    return text


def without_header(text: str) -> str:
    """The file as published: the corpus adds a first ``# source: ...`` line, whose notes may
    quote ``{{ }}`` that are not the template's."""
    first, _, rest = text.partition("\n")
    return rest if first.startswith("# source:") else text


def template_bodies(text: str) -> list[tuple[str, str]]:
    """(name, body) of each Template document's spec.data, or the whole text when bare."""
    text = without_header(text)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return [("bare", text)]
    templates = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Template"]
    if not templates:
        return [("bare", text)]
    return [(t["metadata"]["name"], t["spec"]["data"]) for t in templates]


@dataclass
class TemplateCase:
    """How a Tinkerbell user renders the file, and what must come of it."""

    expect: str  # "rendered" | "refused"
    why: str
    hardware: str = "small"  # "small" (built by the test) or a corpus hardware file
    hardware_map: dict[str, str] = field(default_factory=dict)
    subst: dict[str, str] = field(default_factory=dict)
    references: dict[str, Any] = field(default_factory=dict)
    # Secret/ConfigMap documents the Hardware's spec.references name (read as the import does).
    reference_documents: list[dict[str, Any]] = field(default_factory=list)
    tinkerbell_accepts: bool = True
    # Substrings the refusal or the rendered text must contain.
    contains: list[str] = field(default_factory=list)


MAC = "52:54:00:12:34:56"
D1 = {"device_1": MAC}
PLAYGROUND = {"$TINKERBELL_HOST_IP": "192.168.56.4", "$TINKERBELL_CLIENT_PLATFORM": "amd64"}
HELM = {
    "__ACTIONS_REPOSITORY__": "ghcr.io/example/actions",
    "__ACTIONS_TAG__": "v1.0.0",
    "__TOOTLES_USER_DATA_URL__": "http://10.0.0.2:7080/2009-04-04/user-data",
}
CAPT_STAGE_ONE = {
    "{{.Name}}": "node-1",
    "{{.DeviceTemplateName}}": "{{.device_1}}",
    "{{.ImageURL}}": "http://10.0.0.2:8080/ubuntu-2204-kube-v1.29.raw.gz",
    "{{.DestDisk}}": "/dev/sda",
    "{{.DestPartition}}": "/dev/sda2",
    "{{.MetadataURL}}": "http://10.0.0.2:50061",
}
YAML_CONFIG = "hostname: worker-1\nip: 192.168.1.10"
CONFIG = {"hostname": "worker-1", "network": {"ip": "192.168.1.10", "gateway": "192.168.1.1"}}

REFERENCE_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "my-secret", "namespace": "tinkerbell"},
    "type": "Opaque",
    "stringData": {"username": "admin", "password": "s3cr3t"},
}

TEMPLATES: dict[str, TemplateCase] = {
    "actions--grub2disk-readme.yaml": TemplateCase("rendered", "bare template, .device_1", hardware_map=D1),
    "capt--default-workflowTemplate-GO-CONST.yaml": TemplateCase(
        "rendered",
        "CAPT's own first stage applied as its header says ({{.Name}}... filled, "
        "DeviceTemplateName = {{.device_1}}), then rendered as Tinkerbell does",
        hardware_map=D1,
        subst=CAPT_STAGE_ONE,
    ),
    "capt--quickstart-templateOverride.yaml": TemplateCase(
        "rendered", "doc placeholder <TINKERBELL_VIP> filled", hardware_map=D1,
        subst={"<TINKERBELL_VIP>": "10.0.0.2"},
    ),
    "eks-anywhere--docs-rhel-networkmanager.yaml": TemplateCase(
        "refused", "netmaskToCIDR is defined nowhere (the docs' typo)", hardware_map=D1,
        tinkerbell_accepts=False, contains=["netmaskToCIDR"],
    ),
    "eks-anywhere--expected-kct-templateOverride.yaml": TemplateCase(
        "rendered", "EKS-A's generated template, its Hardware from the EKS-A CSV file",
        hardware="eks-anywhere--csv-generated-hardware-multidoc.yaml",
        hardware_map={"device_1": "00:00:00:00:00:01"},
    ),
    "flatcar-kit--template-advanced.yaml": TemplateCase(
        "rendered", "hardwareMap key agent; dig on the root", hardware_map={"agent": MAC}
    ),
    "flatcar-kit--template-install.yaml": TemplateCase(
        "rendered", "hardwareMap key agent", hardware_map={"agent": MAC}
    ),
    "jasonyates--ubuntu-noble-lvm-raid1-efi.yaml": TemplateCase("rendered", ".device_1", hardware_map=D1),
    "playground--ubuntu-focal-helm-stack.yaml": TemplateCase(
        "rendered", "envsubst $TINKERBELL_HOST_IP first", hardware_map=D1, subst=PLAYGROUND
    ),
    "playground--ubuntu.yaml": TemplateCase(
        "rendered", "envsubst $TINKERBELL_HOST_IP, $TINKERBELL_CLIENT_PLATFORM first",
        hardware_map=D1, subst=PLAYGROUND,
    ),
    "rgl--debian.yaml": TemplateCase(
        "rendered", "no action timeouts (defaults, with warnings)",
        hardware_map={**D1, "boot_device": "/dev/sda", "img_url": "http://10.0.0.2/debian.raw"},
    ),
    "rgl--flatcar-linux.yaml": TemplateCase(
        "rendered", "no action timeouts (defaults, with warnings)",
        hardware_map={**D1, "boot_device": "/dev/sda", "ignition": "eyJpZ25pdGlvbiI6e319"},
    ),
    "tink--crd-example-debian.yaml": TemplateCase("rendered", ".device_1", hardware_map=D1),
    "tink--e2e-template2-two-workers.yaml": TemplateCase(
        "rendered", "two workers", hardware_map={**D1, "device_2": "pnj"}
    ),
    "tink--legacy-sample_2-on-timeout.yaml": TemplateCase("rendered", "on-timeout/on-failure", hardware_map=D1),
    "tinkerbell--agent-example-grpc-template.yaml": TemplateCase("rendered", "pid: host", hardware_map=D1),
    "tinkerbell--docs-hardware-inventory-template.yaml": TemplateCase(
        "refused",
        "reads status.attributes.outOfBand.product.productName, a field Tinkerbell's typed "
        "Attributes do not have (Product has name): missingkey=error in both engines",
        hardware="small-with-status", hardware_map=D1, tinkerbell_accepts=False,
        contains=["productName"],
    ),
    "tinkerbell--docs-references-template.yaml": TemplateCase(
        "rendered", ".references.secret from a Secret beside its Hardware",
        hardware="tinkerbell--docs-references-hardware.yaml",
        hardware_map={"device_1": "52:54:00:41:05:c6"},
        reference_documents=[REFERENCE_SECRET], contains=["admin", "s3cr3t"],
    ),
    "tinkerbell--test-oversized-NEGATIVE.yaml": TemplateCase(
        "refused", "NEGATIVE: output over 256 KiB", hardware_map=D1,
        tinkerbell_accepts=False, contains=["exceeds"],
    ),
    "tinkerbell--test-templateWithDiskTemplate.yaml": TemplateCase(
        "rendered", "Tinkerbell's test hardware: disk, user/vendor data, metadata state",
        hardware="disk-template", hardware_map={"device_1": "3c:ec:ef:4c:4f:54"},
        contains=["DEST_DISK: /dev/nvme0n1", "USER_DATA: user-data", "VENDOR_DATA: vendor-data",
                  "METADATA: active"],
    ),
    "tinkerbell--test-templateWithFromYaml.yaml": TemplateCase(
        "rendered", "Tinkerbell's test data: references.yamlConfig",
        hardware_map={"device_1": "08:00:27:00:00:01"},
        references={"yamlConfig": YAML_CONFIG}, contains=["worker-1"],
    ),
    "tinkerbell--test-templateWithToYaml.yaml": TemplateCase(
        "rendered", "Tinkerbell's test data: references.config",
        hardware_map={"device_1": "08:00:27:00:00:01"}, references={"config": CONFIG},
        contains=["hostname: worker-1", "gateway: 192.168.1.1", "ip: 192.168.1.10"],
    ),
    "tinkerbell-community--talos-install-template@3d8016d.yaml": TemplateCase(
        "rendered", "Helm's __X__ replaced first", hardware_map=D1, subst=HELM
    ),
    "tinkerbell-community--talos-install-template@7083ac1.yaml": TemplateCase(
        "rendered", "Helm's __X__ replaced first", hardware_map=D1, subst=HELM
    ),
    "tinkerbell-docs--debian-TABS-BROKEN-YAML.yaml": TemplateCase(
        "refused", "BROKEN as published: tab indentation", hardware_map=D1,
        tinkerbell_accepts=False, contains=["YAML"],
    ),
    "tinkerbell-docs--ubuntu-packer-BROKEN-YAML.yaml": TemplateCase(
        "refused", "BROKEN as published: over-indented line", hardware_map=D1,
        tinkerbell_accepts=False, contains=["YAML"],
    ),
    "tinkerbell.org--concepts-ubuntu-full.yaml": TemplateCase(
        "rendered", "hardwareMap keys artifact_server_ip_port, tootles_ip_port",
        hardware_map={**D1, "artifact_server_ip_port": "10.0.0.2:8080",
                      "tootles_ip_port": "10.0.0.2:7080"},
    ),
    "vietcgi--gitops-templates-multidoc.yaml": TemplateCase(
        "rendered", "4 Template documents; hardwareMap key hostname",
        hardware_map={**D1, "hostname": "colo-server-01"},
    ),
}  # fmt: skip


def small_hardware(kind: str = "small") -> dict[str, Any]:
    """A Hardware as a Tinkerbell user writes one, with what the corpus templates read."""
    spec: dict[str, Any] = {
        "disks": [{"device": "/dev/sda"}],
        "interfaces": [
            {
                "dhcp": {
                    "mac": MAC,
                    "arch": "x86_64",
                    "hostname": "node-1",
                    "ip": {"address": "10.0.0.21", "netmask": "255.255.255.0",
                           "gateway": "10.0.0.1"},
                    "name_servers": ["1.1.1.1", "8.8.8.8"],
                    "vlan_id": "",
                    "uefi": True,
                },
                "netboot": {"allowPXE": True, "allowWorkflow": True},
            }
        ],
        "metadata": {
            "instance": {
                "hostname": "node-1",
                "ssh_keys": ["ssh-ed25519 AAAAC3Nza ops@example"],
                "operating_system": {"slug": "metal-amd64", "version": "v1.9.0",
                                     "os_slug": "talos-amd64"},
                "ips": [{"address": "10.0.0.21", "family": 4}],
            }
        },
        "userData": "#cloud-config\n",
    }  # fmt: skip
    document: dict[str, Any] = {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Hardware",
        "metadata": {"name": "node-1", "namespace": "tink-system"},
        "spec": spec,
    }
    if kind == "small-with-status":
        document["status"] = {
            "attributes": {
                "outOfBand": {
                    "collectionMethod": "redfish",
                    "bios": {"vendor": "Dell Inc."},
                    "product": {"name": "PowerEdge R650"},
                }
            }
        }
    if kind == "disk-template":
        spec["disks"] = [{"device": "/dev/nvme0n1"}]
        spec["interfaces"][0]["dhcp"]["mac"] = "3c:ec:ef:4c:4f:54"
        spec["userData"] = "user-data"
        spec["vendorData"] = "vendor-data"
        spec["metadata"]["state"] = "active"
    return document
