"""What ``linuxkit build`` writes beyond files: runtime.json, volumes, metadata files, image
labels, read-only bundles, owners named by container, early microcode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from builds.builder import BuildError, build, lint_recipe
from builds.builder.cache import BlobCache
from builds.builder.registry import Client
from tests.builds.images import Layer, PushedImages, read_cpio

HOOK_LABEL = {
    "capabilities": ["CAP_NET_ADMIN"],
    "binds": ["/run:/run"],
    "runtime": {"mkdir": ["/var/from-label"], "interfaces": [{"name": "eth1"}]},
    "env": ["FROM_LABEL=1"],
}


def _push_labelled(images: PushedImages, cache: Path) -> str:
    layer = Layer()
    layer.directory("bin")
    layer.file("bin/tool", b"tool", mode=0o755)
    layer.file(".dockerenv", b"")
    layer.directory("etc")
    layer.file("etc/hostname", b"builder-host\n")
    reference = images.init.replace("/init:v1", "/labelled:v1")
    config = {"Labels": {"org.mobyproject.config": json.dumps(HOOK_LABEL)}, "Cmd": ["/bin/tool"]}
    Client(cache=BlobCache(cache / "push"), insecure_registries=[images.registry]).push_image(
        reference, [layer.blob()], {"architecture": "amd64", "os": "linux", "config": config}
    )
    return reference


def _recipe(images: PushedImages, labelled: str) -> str:
    return f"""kernel:
  image: {images.kernel}
init:
  - {images.init}
onboot:
  - name: setup
    image: {labelled}
    readonly: true
    uid: agent
services:
  - name: agent
    image: {labelled}
    capabilities.add: [CAP_SYS_ADMIN]
    binds.add:
      - scratch:/scratch
      - shared:/shared:ro
    runtime:
      mkdir: [/var/lib/agent]
volumes:
  - name: scratch
  - name: shared
    image: {images.layered}
    readonly: true
files:
  - path: etc/linuxkit-config
    metadata: yaml
  - path: etc/agent/token
    contents: secret
    uid: agent
  - path: var/agent-data
    directory: true
"""


def _build_entries(images: PushedImages, dirs: tuple[Path, Path]) -> dict[str, dict[str, Any]]:
    out, cache = dirs
    labelled = _push_labelled(images, cache)
    result = build(
        _recipe(images, labelled),
        arch="x86_64",
        out_dir=out,
        cache_dir=cache,
        insecure_registries=[images.registry],
    )
    return read_cpio(result.artifacts[1].path)


def _json(entries: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    return json.loads(entries[path]["data"])


def test_labels_volumes_and_runtime_as_linuxkit_writes_them(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    entries = _build_entries(test_images, build_dirs)

    # the read-only onboot container: files at rootfs, bound onto themselves
    setup = "containers/onboot/000-setup"
    assert entries[f"{setup}/rootfs/bin/tool"]["data"] == b"tool"
    assert f"{setup}/rootfs/.dockerenv" not in entries
    assert f"{setup}/rootfs/etc/hostname" not in entries
    setup_config = _json(entries, f"{setup}/config.json")
    assert setup_config["root"] == {"path": "rootfs", "readonly": True}
    assert setup_config["process"]["user"] == {"uid": 101, "gid": 0}  # 'agent' is container 101
    assert setup_config["process"]["env"] == ["FROM_LABEL=1"]
    setup_runtime = _json(entries, f"{setup}/runtime.json")
    assert setup_runtime["mounts"] == [
        {"destination": f"/{setup}/rootfs", "source": f"/{setup}/rootfs", "options": ["bind"]}
    ]
    assert setup_runtime["mkdir"] == ["/var/from-label"]
    assert setup_runtime["interfaces"] == [{"name": "eth1", "createInRoot": False}]

    # the service: the label's capabilities plus capabilities.add, the label's binds plus
    # binds.add with volume names turned into their merged directories, the recipe's runtime
    agent = "containers/services/agent"
    agent_config = _json(entries, f"{agent}/config.json")
    assert agent_config["process"]["capabilities"]["effective"] == [
        "CAP_NET_ADMIN",
        "CAP_SYS_ADMIN",
    ]
    mounts = {m["destination"]: m for m in agent_config["mounts"]}
    assert mounts["/run"]["source"] == "/run"
    assert mounts["/scratch"]["source"] == "/containers/volumes/scratch/merged"
    assert mounts["/shared"] == {
        "destination": "/shared",
        "type": "bind",
        "source": "/containers/volumes/shared/merged",
        "options": ["ro", "rbind"],
    }
    agent_runtime = _json(entries, f"{agent}/runtime.json")
    assert agent_runtime["mkdir"] == ["/var/lib/agent"]  # the recipe's replaces the label's
    assert agent_runtime["interfaces"] == [{"name": "eth1", "createInRoot": False}]
    # same image as the onboot container: the overlay's lower layer is that container's rootfs
    assert f"lowerdir=/{setup}/rootfs" in agent_runtime["mounts"][2]["options"]
    assert not [e for e in entries if e.startswith(f"{agent}/lower")]

    # volumes: blank, and filled from an image (its whiteouts applied)
    assert "containers/volumes/scratch/lower" in entries
    assert "containers/volumes/scratch/merged" in entries
    assert entries["containers/volumes/shared/lower/etc/keep"]["data"] == b"kept\n"
    assert "containers/volumes/shared/lower/etc/gone" not in entries


def test_files_metadata_defaults_and_owners(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    entries = _build_entries(test_images, build_dirs)

    metadata = yaml.safe_load(entries["etc/linuxkit-config"]["data"])
    assert list(metadata) == [
        "kernel",
        "init",
        "onboot",
        "onshutdown",
        "services",
        "files",
        "volumes",
    ]
    assert metadata["kernel"]["image"] == test_images.kernel
    assert [s["name"] for s in metadata["services"]] == ["agent"]
    assert metadata["volumes"][1] == {
        "name": "shared",
        "image": test_images.layered,
        "readonly": True,
    }
    assert entries["etc/linuxkit-config"]["mode"] == 0o600
    token = entries["etc/agent/token"]
    assert (token["mode"], token["uid"], token["data"]) == (0o600, 101, b"secret")
    # a parent the files section creates gets the file's owner and search rights
    assert (entries["etc/agent"]["mode"], entries["etc/agent"]["uid"]) == (0o700, 101)
    assert entries["var/agent-data"]["mode"] == 0o700


def test_metadata_names_docker_hub_images_in_full() -> None:
    from builds.builder.files import metadata_document
    from builds.builder.recipe import parse_recipe

    recipe = parse_recipe(
        "kernel:\n  image: linuxkit/kernel:6.12\ninit: [busybox]\n"
        "files:\n  - path: etc/config.json\n    metadata: json\n"
    )

    document = json.loads(metadata_document(recipe, "json"))
    assert document["kernel"]["image"] == "docker.io/linuxkit/kernel:6.12"
    assert document["init"] == ["docker.io/library/busybox:latest"]


def test_a_missing_ucode_file_fails_naming_it(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs
    recipe = test_images.recipe().replace(
        'cmdline: "console=ttyS0"', 'cmdline: "console=ttyS0"\n  ucode: amd-ucode.cpio'
    )

    with pytest.raises(BuildError, match=r"kernel ucode '/amd-ucode.cpio' is not in the kernel"):
        build(
            recipe,
            arch="x86_64",
            out_dir=out,
            cache_dir=cache,
            insecure_registries=[test_images.registry],
        )


BASE = """kernel:
  image: linuxkit/kernel:6.12
init:
  - linuxkit/init:v1
services:
  - name: svc
    image: linuxkit/getty:v1
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    capabilities: [sys_admin]\n",
            "8:20: services 'svc' capabilities: unknown capability 'sys_admin' "
            "(did you mean CAP_SYS_ADMIN?)",
        ),
        (
            "    binds: [/etc]\n",
            "8:13: services 'svc' binds: '/etc' needs SOURCE:DESTINATION[:OPTIONS]",
        ),
        (
            "    binds: ['data:/data']\n",
            "8:13: 'data' is neither an absolute path nor a volume in 'volumes'",
        ),
        (
            "    mounts:\n      - destination: /x\n",
            "9:9: services 'svc' mount: missing 'type' (it cannot be inferred)",
        ),
        (
            "    runtime:\n      mkdirs: [/x]\n",
            "9:7: services 'svc' runtime: unknown key 'mkdirs'",
        ),
        (
            "    binds: ['ro-vol:/v']\nvolumes:\n  - name: ro-vol\n    readonly: true\n",
            "8:13: volume 'ro-vol' is read-only: bind it with ':ro'",
        ),
        (
            "volumes:\n  - name: Bad\n",
            "9:11: volume name 'Bad': use only a-z, 0-9, '_' and '-'",
        ),
        (
            "files:\n  - path: etc/x\n    metadata: toml\n",
            "10:15: file etc/x metadata: 'toml' is not one of ['json', 'yaml']",
        ),
        (
            "files:\n  - path: etc/x\n    contents: a\n    uid: nobody\n",
            "11:10: file etc/x uid: 'nobody' is neither a number nor a container name",
        ),
        (
            "files:\n  - path: etc/x\n",
            "9:5: file etc/x: say what it holds (contents, source, metadata, directory or symlink)",
        ),
    ],
)
def test_what_linuxkit_would_refuse_is_a_located_problem(extra: str, expected: str) -> None:
    problems, _ = lint_recipe(BASE + extra)

    assert expected in [str(p) for p in problems]


def test_cli_check_prints_warnings_without_failing(tmp_path: Path) -> None:
    recipe = tmp_path / "hook.yaml"
    recipe.write_text(
        BASE + "files:\n  - path: root/.ssh/authorized_keys\n    source: ~/.ssh/id.pub\n"
        "    optional: true\ntrust:\n  org: [linuxkit]\n"
    )

    checked = subprocess.run(
        [sys.executable, "-m", "builds.builder", str(recipe), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert checked.returncode == 0
    assert checked.stderr.splitlines() == [
        f"{recipe}:10:13: warning: file root/.ssh/authorized_keys: source '~/.ssh/id.pub' is "
        "read on the build host at build time; skipped where it is missing",
        f"{recipe}:12:1: warning: trust: ignored (images are checked against their digests, "
        "not Docker Content Trust)",
    ]
