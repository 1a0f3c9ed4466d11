"""A released HookOS imported as a build: by URL, upload or path; checked by sha256; all or
nothing; served by netboot with the kernel arguments HookOS reads; booted by qemu."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from builds.models import Build
from tests.live_server import AsgiLiveServer
from tests.netboot.conftest import make_machine, with_work
from tests.netboot.qemu import (
    GUEST_SOURCE_IP,
    QEMU,
    artifacts_dir,
    network_args,
    pxe_server,
    run_qemu,
)
from tests.tinkerbell.hookos_release import MARKER, file_server, make_release

__all__ = ["artifacts_dir", "pxe_server"]  # fixtures

pytestmark = pytest.mark.django_db
MAC = "52:54:00:40:00:01"


def _import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_hook", "--arch", "x86_64", *args, stdout=out)
    return out.getvalue()


def _left_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_a_release_by_url_becomes_the_default_build(tmp_path, artifacts_dir: Path, client):
    release = make_release(tmp_path)
    with file_server(tmp_path) as base:
        printed = _import("--url", f"{base}/hook_x86_64.tar.gz", "--sha256", release.sha256)

    build = Build.objects.get()
    assert "(the default)" in printed
    assert (build.kind, build.state, build.recipe_id, build.is_default) == (
        Build.Kind.HOOKOS,
        Build.State.SUCCESS,
        None,
        True,
    )
    assert build.source.endswith("/hook_x86_64.tar.gz")
    names = {a.name: a for a in build.artifacts.all()}
    assert set(names) == {"vmlinuz-x86_64", "initramfs-x86_64"}
    served = client.get("/artifacts/x86_64/initramfs-x86_64")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == release.initramfs.read_bytes()

    machine = with_work(make_machine(hostname="hookos-01", mac=MAC, ip="10.9.0.5"))
    script = client.get(f"/ipxe/{MAC}/auto.ipxe", REMOTE_ADDR="10.9.0.5").content.decode()
    assert f"Hook build #{build.pk}" in script
    assert "tink_worker_image=ghcr.io/tinkerbell/tink-agent:latest" in script
    assert f"worker_id={MAC}" in script and "grpc_authority=" in script
    assert machine.pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sha256", "0" * 64), "sha256 is"),
        ((), "needs the archive's sha256"),
    ],
)
def test_a_bad_or_missing_checksum_leaves_nothing(tmp_path, artifacts_dir, args, message):
    make_release(tmp_path)
    with file_server(tmp_path) as base, pytest.raises(CommandError, match=message):
        _import("--url", f"{base}/hook_x86_64.tar.gz", *args)
    assert not Build.objects.exists()
    assert _left_in(artifacts_dir) == []


def test_an_archive_without_an_initramfs_or_a_missing_url_is_refused(tmp_path, artifacts_dir):
    release = make_release(tmp_path, members=("vmlinuz",))
    with pytest.raises(CommandError, match=r"archive: Expected one initramfs-x86_64.*vmlinuz"):
        _import("--archive", str(release.archive))
    with file_server(tmp_path) as base, pytest.raises(CommandError, match="answered 404"):
        _import("--url", f"{base}/missing.tar.gz", "--sha256", "ab" * 32)
    assert not Build.objects.exists()
    assert _left_in(artifacts_dir) == []


def test_the_api_takes_a_kernel_and_an_initramfs_from_operators_only(
    tmp_path, artifacts_dir, operator, viewer
):
    release = make_release(tmp_path)
    api = APIClient()
    api.force_authenticate(viewer)
    with release.kernel.open("rb") as kernel, release.initramfs.open("rb") as initramfs:
        refused = api.post(
            "/api/v1/builds/import-hookos/",
            {"arch": "x86_64", "kernel": kernel, "initramfs": initramfs},
            format="multipart",
        )
    assert refused.status_code == 403
    api.force_authenticate(operator)
    with release.kernel.open("rb") as kernel, release.initramfs.open("rb") as initramfs:
        created = api.post(
            "/api/v1/builds/import-hookos/",
            {"arch": "x86_64", "kernel": kernel, "initramfs": initramfs, "default": "true"},
            format="multipart",
        )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["recipe"], body["state"]) == ("hookos", None, "success")
    assert body["source"] == "upload vmlinuz-x86_64"
    assert sorted(a["name"] for a in body["artifacts"]) == ["initramfs-x86_64", "vmlinuz-x86_64"]


def test_the_page_imports_an_uploaded_archive(tmp_path, artifacts_dir, client, operator):
    release = make_release(tmp_path)
    client.force_login(operator)
    assert client.get("/builds/").content.count(b'id="import-hookos"') == 1
    page = client.get("/builds/import-hookos/")
    assert page.status_code == 200
    with release.archive.open("rb") as archive:
        answer = client.post(
            "/builds/import-hookos/",
            {"arch": "x86_64", "archive": archive, "sha256": release.sha256},
        )
    build = Build.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/builds/{build.pk}/"
    detail = client.get(answer["Location"]).content.decode()
    assert "HookOS" in detail and "upload hook_x86_64.tar.gz" in detail
    with release.archive.open("rb") as archive:
        wrong = client.post(
            "/builds/import-hookos/", {"arch": "x86_64", "archive": archive, "sha256": "0" * 64}
        )
    assert wrong.status_code == 400
    assert "sha256 is" in wrong.content.decode()


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_qemu_netboots_the_imported_release_into_its_kernel(
    tmp_path, pxe_server: AsgiLiveServer, artifacts_dir: Path
):
    release = make_release(tmp_path)
    _import("--archive", str(release.archive), "--sha256", release.sha256)
    with_work(make_machine(hostname="hookos-qemu", mac=MAC, ip=GUEST_SOURCE_IP))

    run = run_qemu(
        [QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-boot", "n",
         *network_args(port=pxe_server.port, mac=MAC)],
        timeout=150,
        watch=[MARKER],
    )  # fmt: skip

    lines = [line for line in run.console.splitlines() if line.startswith(MARKER)]
    assert lines, run.console[-3000:]
    args = lines[-1].split()
    assert "tink_worker_image=ghcr.io/tinkerbell/tink-agent:latest" in args
    assert f"worker_id={MAC}" in args and f"hw_addr={MAC}" in args
    assert any(a.startswith("grpc_authority=") for a in args)
