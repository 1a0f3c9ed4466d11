"""Importing a released HookOS (Tinkerbell's own Hook): its kernel and initramfs become a build
netboot can serve.

A HookOS release publishes ``hook_<arch>.tar.gz`` holding ``vmlinuz-<arch>`` and
``initramfs-<arch>``; an operator may also have the two files on their own. Either comes from a
URL (downloaded here, http or https) or a file (an upload, or a path for the command), is checked
against the sha256 the operator gives (required for a URL: what is downloaded is what was
meant), and is stored in the artifact storage with the names every build uses. All or
nothing: a bad checksum, a tarball without a kernel or an initramfs, a failed download leaves no
build and no file behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from builds.models import Build
from builds.services.artifacts import artifacts_discard, artifacts_store
from builds.services.lifecycle import ArtifactFile, build_finish, build_set_default
from builds.services.runner import build_output_dir
from builds.states import Arch, BuildState
from builds.storage import stores_in_place
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event

CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_SECONDS = 60
PARTS = ("vmlinuz", "initramfs")


@dataclass(frozen=True)
class HookSource:
    """What to import: an archive (``hook_<arch>.tar.gz``) or a kernel and an initramfs, each
    from a URL or a local file, with the sha256 it must have."""

    archive_url: str = ""
    archive_file: BinaryIO | None = None
    kernel_file: BinaryIO | None = None
    initramfs_file: BinaryIO | None = None
    sha256: str = ""  # of the archive
    kernel_sha256: str = ""
    initramfs_sha256: str = ""
    name: str = ""  # how the source is recorded (URL, file name)


def _copy_hashing(source: IO[bytes], target: Path, field: str) -> str:
    digest = hashlib.sha256()
    limit = settings.BUILD_IMPORT_MAX_BYTES
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise ValidationError(
                    {field: f"Larger than {limit} bytes (BUILD_IMPORT_MAX_BYTES)."}
                )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path) -> str:
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ValidationError({"url": "An http or https URL."})
    try:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            if response.status_code != 200:
                raise ValidationError({"url": f"{url} answered {response.status_code}."})
            response.raw.decode_content = True
            return _copy_hashing(response.raw, target, "url")
    except requests.RequestException as error:
        raise ValidationError({"url": f"{url} could not be downloaded: {error}"}) from None


def _check(field: str, expected: str, actual: str) -> None:
    expected = expected.strip().lower()
    if expected and expected != actual:
        raise ValidationError({field: f"sha256 is {actual}, not the {expected} expected."})


def _unpack(archive: Path, arch: str, into: Path) -> dict[str, tuple[Path, str]]:
    """The kernel and initramfs of a HookOS tarball, each written to ``into`` under its part
    name (only regular files are read; member names never become paths)."""
    found: dict[str, tuple[Path, str]] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            for part in PARTS:
                matches = [m for m in members if Path(m.name).name.startswith(part)]
                exact = [m for m in matches if Path(m.name).name == f"{part}-{arch}"]
                chosen = exact or matches
                if len(chosen) != 1:
                    names = ", ".join(m.name for m in members) or "no files"
                    raise ValidationError(
                        {"archive": f"Expected one {part}-{arch} in the archive; it holds {names}."}
                    )
                extracted = tar.extractfile(chosen[0])
                assert extracted is not None
                with extracted:
                    found[part] = (into / part, _copy_hashing(extracted, into / part, "archive"))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValidationError({"archive": f"Not a readable tar archive: {error}"}) from None
    return found


@contextmanager
def _staging() -> Iterator[Path]:
    """A folder on the artifacts' filesystem (so the final move is a rename), always removed."""
    root = Path(settings.BUILD_ARTIFACTS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fetch(source: HookSource, arch: str, folder: Path) -> dict[str, tuple[Path, str]]:
    """The kernel and the initramfs in ``folder``, each with its sha256 (taken while written)."""
    if source.archive_url or source.archive_file is not None:
        archive = folder / "archive"
        if source.archive_url:
            if not source.sha256:
                raise ValidationError({"sha256": "A URL import needs the archive's sha256."})
            digest = _download(source.archive_url, archive)
        else:
            assert source.archive_file is not None
            digest = _copy_hashing(source.archive_file, archive, "archive")
        _check("sha256", source.sha256, digest)
        return _unpack(archive, arch, folder)
    if source.kernel_file is None or source.initramfs_file is None:
        raise ValidationError({"archive": "Give a HookOS archive, or a kernel and an initramfs."})
    files = {}
    for part, stream, expected in (
        ("vmlinuz", source.kernel_file, source.kernel_sha256),
        ("initramfs", source.initramfs_file, source.initramfs_sha256),
    ):
        digest = _copy_hashing(stream, folder / part, part)
        _check(f"{part}_sha256", expected, digest)
        files[part] = (folder / part, digest)
    return files


def build_import_hookos(
    *, arch: str, source: HookSource, actor: Actor, make_default: bool = False
) -> Build:
    """A successful build of kind ``hookos`` holding the release's kernel and initramfs; the
    first build of its arch (or ``make_default``) becomes the one netboot serves."""
    if arch not in Arch.values:
        raise ValidationError({"arch": f"Unknown architecture {arch!r}."})
    with _staging() as folder:
        files = _fetch(source, arch, folder)
        artifacts = [
            (f"{part}-{arch}", path, path.stat().st_size, digest)
            for part, (path, digest) in files.items()
        ]
        with transaction.atomic():
            now = timezone.now()
            build = Build.objects.create(
                kind=Build.Kind.HOOKOS,
                arch=arch,
                state=BuildState.RUNNING,
                source=(source.name or source.archive_url)[:1000],
                started_at=now,
                created_by_id=actor.user_id,
            )
            target = build_output_dir(build.pk)
            target.mkdir(parents=True, exist_ok=False)
            stored: list[ArtifactFile] = []
            try:
                moved = []
                for name, path, size, sha256 in artifacts:
                    final = target / name
                    path.rename(final)
                    moved.append(ArtifactFile(name, final, size, sha256))
                record_event(
                    actor=actor,
                    verb="build.imported",
                    obj=build,
                    message=f"HookOS for {arch} from {build.source or 'an upload'}",
                )
                # Inside the transaction (the key needs the build's id), which holds no lock
                # another request waits for: the build row is new and not yet visible.
                stored = artifacts_store(build_id=build.pk, files=moved)
                build = build_finish(build_id=build.pk, actor=actor, artifacts=stored, steps=[])
                if make_default and not build.is_default:
                    build = build_set_default(build=build, actor=actor)
            except BaseException:
                artifacts_discard(files=stored)
                shutil.rmtree(target, ignore_errors=True)
                raise
        if not stores_in_place():
            shutil.rmtree(target, ignore_errors=True)  # uploaded: this was only the staging
        return build


def hookos_import(
    *,
    actor: Actor,
    arch: str,
    url: str = "",
    sha256: str = "",
    archive: BinaryIO | None = None,
    kernel: BinaryIO | None = None,
    initramfs: BinaryIO | None = None,
    kernel_sha256: str = "",
    initramfs_sha256: str = "",
    make_default: bool = False,
    name: str = "",
) -> Build:
    """The form- and API-shaped entry: one source among a URL, an archive, or a kernel and an
    initramfs (more than one is refused, naming them). The build records where it came from:
    ``name``, else the URL, else the uploaded file's name."""
    given = [
        field for field, value in (("url", url), ("archive", archive), ("kernel", kernel)) if value
    ]
    if len(given) > 1:
        raise ValidationError(
            {given[1]: f"Give one of url, archive, kernel: got {', '.join(given)}."}
        )
    source = HookSource(
        archive_url=url,
        archive_file=archive,
        kernel_file=kernel,
        initramfs_file=initramfs,
        sha256=sha256,
        kernel_sha256=kernel_sha256,
        initramfs_sha256=initramfs_sha256,
        name=name or url or _upload_name(archive or kernel),
    )
    return build_import_hookos(arch=arch, source=source, actor=actor, make_default=make_default)


def _upload_name(upload: BinaryIO | None) -> str:
    filename = getattr(upload, "name", "") if upload is not None else ""
    return f"upload {Path(filename).name}" if filename else ""
