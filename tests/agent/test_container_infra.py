"""The container machinery itself: registry, podman through the docker SDK, the test images."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import ACTION_IMAGES, IMAGE_NAMESPACE, registry_request

try:
    import docker
except ImportError:  # podman_engine says so: a failure in CI, a skip elsewhere
    docker = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

QUIET = {"network_mode": "none"}  # the default bridge would NAT to the outside


def _lines(chunks: Iterator[bytes]) -> Iterator[tuple[float, str]]:
    """Split a log stream into lines, each with the moment it arrived."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield time.monotonic(), line.decode()
    if pending:
        yield time.monotonic(), pending.decode()


def test_registry_answers_the_distribution_api(oci_registry: str) -> None:
    status, headers, _body = registry_request(oci_registry, "/v2/")

    assert status == 200
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_action_images_are_pushed_to_the_registry(
    oci_registry: str, action_images: dict[str, str]
) -> None:
    # Each repository's own tag list: the catalog is paged (100 names a page) and
    # other tests push images of their own into the same registry.
    assert set(action_images) == set(ACTION_IMAGES)
    for name in ACTION_IMAGES:
        status, _headers, body = registry_request(
            oci_registry, f"/v2/{IMAGE_NAMESPACE}/{name}/tags/list"
        )
        assert status == 200, name
        assert "v1" in json.loads(body)["tags"], name
    assert action_images["lines"] == f"{oci_registry}/{IMAGE_NAMESPACE}/lines:v1"


def test_sdk_pulls_lines_and_follows_its_logs_live(
    docker_client: docker.DockerClient,
    action_images: dict[str, str],
) -> None:
    reference = action_images["lines"]
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(reference, force=True)
    repository, tag = reference.rsplit(":", 1)

    image = docker_client.images.pull(repository, tag=tag)
    container = docker_client.containers.run(
        reference, detach=True, environment={"LINES": "5", "DELAY": "0.3"}, **QUIET
    )
    arrivals = list(_lines(container.logs(stream=True, follow=True)))
    result = container.wait(timeout=30)

    assert reference in image.tags
    assert [line for _at, line in arrivals] == [f"line {n}" for n in range(1, 6)]
    # Live, not collected at exit: the lines arrived as far apart as the script printed them.
    assert arrivals[-1][0] - arrivals[0][0] > 0.8
    assert result["StatusCode"] == 0


def test_failer_exits_with_three_and_writes_to_stderr(
    docker_client: docker.DockerClient, action_images: dict[str, str]
) -> None:
    container = docker_client.containers.run(action_images["failer"], detach=True, **QUIET)

    result = container.wait(timeout=30)

    assert result["StatusCode"] == 3
    assert container.logs(stdout=False, stderr=True) == b"failer: failing with exit code 3\n"
    assert container.logs(stdout=True, stderr=False) == b""


def test_privileged_container_without_network(
    docker_client: docker.DockerClient, action_images: dict[str, str]
) -> None:
    # Mounting needs CAP_SYS_ADMIN: only a privileged container has it.
    command = ["sh", "-c", "mount -t tmpfs none /mnt && ls /sys/class/net"]

    output = docker_client.containers.run(
        action_images["lines"], command, privileged=True, network_mode="none"
    )
    with pytest.raises(docker.errors.ContainerError):
        docker_client.containers.run(action_images["lines"], command, network_mode="none")

    assert output.split() == [b"lo"]


def test_writer_writes_into_a_bind_mount(
    docker_client: docker.DockerClient, action_images: dict[str, str], tmp_path: Path
) -> None:
    container = docker_client.containers.run(
        action_images["writer"],
        detach=True,
        environment={"TARGET": "/out/nested/result.txt", "CONTENT": "disk\nimage"},
        volumes={str(tmp_path): {"bind": "/out", "mode": "rw"}},
        **QUIET,
    )

    result = container.wait(timeout=30)

    assert result["StatusCode"] == 0
    assert (tmp_path / "nested" / "result.txt").read_text() == "disk\nimage"
    assert container.logs() == b"writer: wrote 10 bytes to /out/nested/result.txt\n"


def test_lines_splits_streams_colours_and_exit_code(
    docker_client: docker.DockerClient, action_images: dict[str, str]
) -> None:
    environment = {"LINES": "20", "DELAY": "0", "STREAM": "both", "EXIT_CODE": "5"}
    container = docker_client.containers.run(
        action_images["lines"], detach=True, environment=environment, **QUIET
    )

    result = container.wait(timeout=30)

    assert result["StatusCode"] == 5
    stdout = container.logs(stdout=True, stderr=False).decode().splitlines()
    stderr = container.logs(stdout=False, stderr=True).decode().splitlines()
    assert stdout == [f"line {n}" for n in range(1, 20, 2)]
    assert stderr[:4] == ["line 2", "line 4", "line 6", "line 8"]
    assert stderr[4] == "\x1b[31mline 10\x1b[0m"
    assert stderr[-1] == "\x1b[31mline 20\x1b[0m"


def test_longline_prints_one_long_line_then_a_short_one(
    docker_client: docker.DockerClient, action_images: dict[str, str]
) -> None:
    # Attached before the start, as the agent does: podman's stored logs can split or lose
    # parts of a 200 kB line read back after the exit, the attach stream does not.
    container = docker_client.containers.create(action_images["longline"], **QUIET)
    stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
    container.start()
    output = b"".join(stream)
    container.wait(timeout=30)

    long_line, short_line = output.decode().splitlines()
    assert len(long_line) == 200_000
    assert long_line.startswith("0123456789012")
    assert short_line == "short line"


def test_sleeper_stops_gracefully_on_sigterm(
    docker_client: docker.DockerClient, action_images: dict[str, str]
) -> None:
    container = docker_client.containers.run(
        action_images["sleeper"], detach=True, environment={"SLEEP": "120"}, **QUIET
    )
    first = next(_lines(container.logs(stream=True, follow=True)))[1]

    stopping = time.monotonic()
    container.stop(timeout=20)
    result = container.wait(timeout=30)

    assert first == "sleeping 120s"
    assert time.monotonic() - stopping < 10  # SIGTERM did it, not the SIGKILL after 20 s
    assert result["StatusCode"] == 143
    assert container.logs() == b"sleeping 120s\nterminated\n"
