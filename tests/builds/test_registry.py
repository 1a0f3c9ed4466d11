from __future__ import annotations

from pathlib import Path

import pytest

from builds.builder.cache import BlobCache
from builds.builder.registry import Client, RegistryError, api_host, parse_reference
from tests.builds.images import Layer, PushedImages


@pytest.mark.parametrize(
    ("image", "registry", "repository", "reference"),
    [
        ("alpine", "docker.io", "library/alpine", "latest"),
        ("linuxkit/init:v1.2.0", "docker.io", "linuxkit/init", "v1.2.0"),
        ("quay.io/tinkerbell/hook-kernel:6.6", "quay.io", "tinkerbell/hook-kernel", "6.6"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest"),
        ("localhost/x@sha256:" + "a" * 64, "localhost", "x", "sha256:" + "a" * 64),
    ],
)
def test_references_resolve_like_docker(
    image: str, registry: str, repository: str, reference: str
) -> None:
    parsed = parse_reference(image)

    assert (parsed.registry, parsed.repository, parsed.reference) == (
        registry,
        repository,
        reference,
    )


def test_docker_hub_is_reached_through_its_api_host() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"


def test_index_picks_the_requested_architecture(test_images: PushedImages, tmp_path: Path) -> None:
    client = Client(cache=BlobCache(tmp_path), insecure_registries=[test_images.registry])
    repository = test_images.kernel.rsplit("/", 1)[0]
    arm = Layer()
    arm.file("arch", b"arm64")
    amd = Layer()
    amd.file("arch", b"amd64")
    arm_digest = client.push_image(
        f"{repository}/multi:arm64", [arm.blob()], {"architecture": "arm64", "os": "linux"}
    )
    amd_digest = client.push_image(
        f"{repository}/multi:amd64", [amd.blob()], {"architecture": "amd64", "os": "linux"}
    )
    client.push_index(f"{repository}/multi:v1", {"arm64": arm_digest, "amd64": amd_digest})

    pulled_amd = client.pull(f"{repository}/multi:v1", "x86_64")
    pulled_arm = client.pull(f"{repository}/multi:v1", "aarch64")

    assert (pulled_amd.manifest_digest, pulled_arm.manifest_digest) == (amd_digest, arm_digest)
    with pytest.raises(RegistryError, match="no linux/riscv64 image in its index"):
        client.pull(f"{repository}/multi:v1", "riscv64")
