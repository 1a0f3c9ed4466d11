"""The corpus's LinuxKit recipes (HookOS's own among them), checked and built as LinuxKit would.

Every recipe LinuxKit reads is accepted without a problem (HookOS templates after the envsubst
step HookOS's build runs first), the one YAML LinuxKit cannot read is refused at its line, and
go-yaml (what LinuxKit parses with) agrees on both. The HookOS definitions and LinuxKit's
volume and metadata examples are then built, with every image pointed at test images in the
local registry, and what LinuxKit's init reads is checked: runtime.json (`runtime.mkdir`),
volumes, `files[].metadata`.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from builds.builder import build, lint_recipe
from builds.builder.recipe_images import ALL_CAPABILITIES
from tests.builds.images import PushedImages, read_cpio
from tests.goracle import go_oracle
from tests.tinkerbell import conformance_report
from tests.tinkerbell.corpus import corpus_dir, corpus_files, read, substitute

KIND = "linuxkit"
LINUXKIT_FILES = [name for name in corpus_files(KIND) if name != "(corpus missing)"] or [
    "(corpus missing)"
]
# YAML neither PyYAML nor go-yaml reads: a column-0 comment inside a literal block.
UNREADABLE = {"linuxkit--examples-static-ip.yml": 29}
GO_YAML = Path(__file__).resolve().parents[1] / "goracle" / "linuxkit_yaml.go"


def hookos_values(text: str, image: str = "quay.io/tinkerbell/hook-test:0.10.0") -> dict[str, str]:
    """HookOS's build fills only ``${HOOK_*}`` (its restricted envsubst list); others stay."""
    names = set(re.findall(r"\$\{(HOOK_[A-Z0-9_]+)\}", text))
    values = {f"${name}": image for name in names}
    values["$HOOK_VERSION"] = "0.10.0"
    values["$HOOK_KERNEL_ID"] = "x86_64"
    values["$HOOK_KERNEL_VERSION"] = "6.6.52"
    return values


def recipe_text(name: str) -> str:
    text = read(KIND, name)
    return substitute(text, hookos_values(text)) if name.startswith("hook--") else text


@pytest.mark.parametrize("name", LINUXKIT_FILES)
def test_linuxkit_recipe(name: str) -> None:
    corpus_dir(KIND)

    problems, _ = lint_recipe(recipe_text(name))

    readable = name not in UNREADABLE
    if readable:
        passed = problems == []
    else:
        passed = [p.line for p in problems] == [UNREADABLE[name]]
        passed = passed and problems[0].message.startswith("YAML: ")
    conformance_report.record(KIND, name, passed=passed, tinkerbell_accepts=readable)
    assert passed, [str(p) for p in problems]


def test_go_yaml_reads_the_same_recipes_and_images() -> None:
    corpus_dir(KIND)
    binary = go_oracle(GO_YAML)
    texts = [recipe_text(name) for name in LINUXKIT_FILES]

    completed = subprocess.run(
        [str(binary)], input=json.dumps(texts).encode(), capture_output=True, check=True
    )
    answers = json.loads(completed.stdout)

    for name, text, answer in zip(LINUXKIT_FILES, texts, answers, strict=True):
        problems, _ = lint_recipe(text)
        assert answer["ok"] == (not problems), (name, answer, [str(p) for p in problems])
        if answer["ok"]:
            assert answer["images"] == _images(yaml.safe_load(text)), name


def _images(document: Any) -> list[str]:
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "image" and isinstance(value, str):
                found.append(value)
            found += _images(value)
    elif isinstance(document, list):
        for item in document:
            found += _images(item)
    return found


def _localised(text: str, images: PushedImages) -> str:
    """Every image pointed at the local registry's test images (kernel, init, a plain one)."""
    document = yaml.safe_load(text)
    document["kernel"]["image"] = images.kernel
    document["kernel"].pop("ucode", None)
    document["init"] = [images.init]
    for section in ("onboot", "onshutdown", "services"):
        for entry in document.get(section) or []:
            entry["image"] = images.layered
    for volume in document.get("volumes") or []:
        if volume.get("image"):
            volume["image"] = images.layered
    return yaml.safe_dump(document, sort_keys=False)


def _build(name: str, images: PushedImages, tmp_path: Path) -> dict[str, dict[str, Any]]:
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = build(
        _localised(recipe_text(name), images),
        arch="x86_64",
        out_dir=out,
        cache_dir=cache,
        insecure_registries=[images.registry],
    )
    return read_cpio(result.artifacts[1].path)


@pytest.mark.parametrize("name", ["hook--hook.yaml@d1782ef.yaml", "hook--hook.template.yaml"])
def test_hookos_services_get_the_directories_they_ask_for(
    name: str,
    test_images: PushedImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus_dir(KIND)
    # HookOS's files section reads helper scripts beside the recipe, as its build does.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "files").mkdir()
    for helper in ("vlan.sh", "dhcp.sh", "dhcpcd.conf", "static-network.sh", "setup-dns.sh"):
        (tmp_path / "files" / helper).write_text(f"# {helper}\n")
    document = yaml.safe_load(recipe_text(name))
    asked = {
        entry["name"]: entry["runtime"]["mkdir"]
        for entry in document["services"]
        if (entry.get("runtime") or {}).get("mkdir")
    }
    assert asked, "HookOS's services ask for directories"

    entries = _build(name, test_images, tmp_path)

    for service, directories in asked.items():
        runtime = json.loads(entries[f"containers/services/{service}/runtime.json"]["data"])
        assert runtime["mkdir"] == directories, service
    config = json.loads(entries["containers/services/hook-docker/config.json"]["data"])
    mounts = {m["destination"]: m for m in config["mounts"]}
    docker = next(e for e in document["services"] if e["name"] == "hook-docker")
    # the recipe's cgroup mount (v1 in HookOS 0.8, v2 since) replaces the default one
    assert mounts["/sys/fs/cgroup"]["type"] == docker["mounts"][0]["type"]
    assert mounts["/var/lib/docker"]["source"] == "/var/run/images"
    assert config["process"]["capabilities"]["bounding"] == sorted(ALL_CAPABILITIES)
    assert [ns["type"] for ns in config["linux"]["namespaces"]] == ["mount", "cgroup"]


def test_volumes_and_metadata_examples_build(test_images: PushedImages, tmp_path: Path) -> None:
    corpus_dir(KIND)

    entries = _build("linuxkit--examples-volumes.yml", test_images, tmp_path)

    nginx = json.loads(entries["containers/services/nginx/config.json"]["data"])
    sources = {m["destination"]: m.get("source") for m in nginx["mounts"]}
    assert sources["/blank"] == "/containers/volumes/blank/merged"
    assert sources["/alpine"] == "/containers/volumes/alpine/merged"
    assert "containers/volumes/alpine/lower/etc/keep" in entries
    metadata = yaml.safe_load(entries["etc/linuxkit-config"]["data"])
    assert [v["name"] for v in metadata["volumes"]] == ["blank", "alpine"]
    assert [s["name"] for s in metadata["onshutdown"]] == ["shutdown"]
