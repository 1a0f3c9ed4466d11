"""One build: pull every image, extract the kernel, stream the initramfs, report artifacts."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from builds.builder import layers as layer_tools
from builds.builder.bundles import BundleWriter
from builds.builder.cache import BlobCache, DigestMismatch
from builds.builder.files import FilesError, write_files
from builds.builder.initramfs import COMPRESSIONS, CpioWriter, open_initramfs
from builds.builder.layout import ConfigError, bundle_path, container_config
from builds.builder.recipe import ImageSpec, Recipe, RecipeError, parse_recipe
from builds.builder.registry import Client, PulledImage, RegistryError


@dataclass
class Artifact:
    name: str
    path: Path
    size: int
    sha256: str


@dataclass
class Step:
    name: str
    seconds: float


@dataclass
class BuildResult:
    artifacts: list[Artifact]
    steps: list[Step]
    cache_hits: int
    downloaded_bytes: int


class BuildError(Exception):
    pass


class BuildCancelled(BuildError):
    pass


def _nothing(*_: object) -> None:
    return None


class _Run:
    """The bookkeeping of one build: steps, progress, log, cancellation."""

    def __init__(
        self,
        progress: Callable[[int, str], None] | None,
        log: Callable[[str], None] | None,
        should_cancel: Callable[[], bool] | None,
    ):
        self.steps: list[Step] = []
        self.progress = progress or _nothing
        self.log = log or _nothing
        self.should_cancel = should_cancel or (lambda: False)

    def check_cancel(self) -> None:
        if self.should_cancel():
            raise BuildCancelled("the build was cancelled")

    @contextmanager
    def step(self, name: str, percent: int) -> Iterator[None]:
        self.check_cancel()
        self.progress(percent, name)
        self.log(f"==> {name}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps.append(Step(name, round(time.monotonic() - started, 3)))


def build(
    recipe_text: str,
    *,
    arch: str,
    out_dir: Path,
    cache_dir: Path,
    progress: Callable[[int, str], None] | None = None,
    log: Callable[[str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    compression: str = "zstd",
    credentials: Mapping[str, tuple[str, str]] | None = None,
    insecure_registries: Collection[str] = (),
    mirrors: Mapping[str, Sequence[str]] | None = None,
) -> BuildResult:
    try:
        recipe = parse_recipe(recipe_text)
    except RecipeError as exc:
        raise BuildError("the recipe is not valid:\n" + str(exc)) from exc
    if compression not in COMPRESSIONS:
        raise BuildError(f"compression must be one of {sorted(COMPRESSIONS)}, not {compression!r}")
    run = _Run(progress, log, should_cancel)
    for warning in recipe.warnings:
        run.log(f"warning: {warning}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    if recipe.builder == "linuxkit":
        from builds.builder.linuxkit import build_with_linuxkit

        artifacts = build_with_linuxkit(recipe_text, arch=arch, out_dir=out_dir, log=run.log)
        run.progress(100, "done")
        return BuildResult(artifacts, run.steps, 0, 0)

    client = Client(
        cache=BlobCache(cache_dir),
        credentials=credentials or {},
        insecure_registries=insecure_registries,
        mirrors=mirrors or {},
        check_cancel=run.check_cancel,
    )
    try:
        artifacts = _build(recipe, run, client, arch, out_dir, compression)
    except (RegistryError, DigestMismatch) as exc:
        raise BuildError(str(exc)) from exc
    except layer_tools.Cancelled as exc:
        raise BuildCancelled("the build was cancelled") from exc
    run.progress(100, "done")
    run.log(
        f"done: {client.downloaded_bytes} bytes downloaded, {client.cache_hits} blobs from cache"
    )
    return BuildResult(artifacts, run.steps, client.cache_hits, client.downloaded_bytes)


def _build(
    recipe: Recipe, run: _Run, client: Client, arch: str, out_dir: Path, compression: str
) -> list[Artifact]:
    containers = [
        (kind, position, spec)
        for kind in ("onboot", "onshutdown", "services")
        for position, spec in enumerate(getattr(recipe, kind))
    ]
    images: dict[str, PulledImage] = {}
    wanted = [
        recipe.kernel.image,
        *recipe.init,
        *(volume.image for volume in recipe.volumes if volume.image),
        *(spec.image for _, _, spec in containers),
    ]
    with run.step("pull images", 5):
        for number, image in enumerate(dict.fromkeys(wanted)):
            run.check_cancel()
            run.progress(5 + 40 * number // len(wanted), "pull images")
            before = client.downloaded_bytes
            images[image] = client.pull(image, arch)
            fetched = client.downloaded_bytes - before
            run.log(f"pulled {image} ({len(images[image].layers)} layers, {fetched} bytes fetched)")

    kernel_path = out_dir / f"vmlinuz-{arch}"
    initramfs_path = out_dir / f"initramfs-{arch}"
    # Everything is written under .work-* and moved into place at the end, so a build that
    # dies midway never leaves a half-written artifact under its final name.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".work-") as scratch:
        kernel = images[recipe.kernel.image]
        kernel_partial = Path(scratch) / kernel_path.name
        with run.step("extract kernel", 45):
            kernel_index = layer_tools.index_stack(kernel.layers, run.check_cancel)
            _extract_kernel(recipe, kernel, kernel_index, kernel_partial)
            modules_tar = None
            if recipe.kernel.tar != "none" and recipe.kernel.tar in kernel_index.winners:
                modules_tar = Path(scratch) / "kernel.tar"
                layer_tools.extract_file(
                    kernel.layers, kernel_index, recipe.kernel.tar, modules_tar
                )
            ucode = _extract_ucode(recipe, kernel, kernel_index, Path(scratch))
        partial = Path(scratch) / initramfs_path.name
        with (
            run.step("write initramfs", 55),
            open_initramfs(partial, compression, prefix=ucode) as writer,
        ):
            _write_root(recipe, run, images, kernel, kernel_index, modules_tar, writer)
            bundles = BundleWriter(writer, run.check_cancel)
            for volume in recipe.volumes:
                count = bundles.volume(volume.name, images[volume.image] if volume.image else None)
                run.log(f"volume {volume.name}: {count} entries")
            ids = recipe.container_ids()
            for number, (kind, position, spec) in enumerate(containers):
                run.progress(60 + 30 * number // max(len(containers), 1), "write initramfs")
                _write_bundle(run, bundles, images[spec.image], kind, position, spec, ids)
            try:
                write_files(recipe, writer)
            except FilesError as exc:
                raise BuildError(str(exc)) from exc
        os.replace(kernel_partial, kernel_path)
        os.replace(partial, initramfs_path)
    if recipe.kernel.cmdline:
        (out_dir / f"cmdline-{arch}").write_text(recipe.kernel.cmdline + "\n")
    with run.step("checksums", 95):
        return [_artifact(kernel_path), _artifact(initramfs_path)]


def _extract_kernel(
    recipe: Recipe, kernel: PulledImage, index: layer_tools.StackIndex, destination: Path
) -> None:
    """LinuxKit kernel images hold ``/kernel`` (``binary``); Debian-shaped ones hold a single
    ``/boot/vmlinuz-*``: take the first, else the second."""
    name = recipe.kernel.binary or "kernel"
    if name not in index.winners:
        candidates = sorted(
            path
            for path in index.winners
            if posixpath.dirname(path) == "boot" and path.startswith("boot/vmlinuz-")
        )
        if len(candidates) != 1:
            found = ", ".join(candidates) or "none"
            raise BuildError(
                f"{kernel.reference}: no '/{name}' in the kernel image and not exactly one "
                f"/boot/vmlinuz-* (found: {found})"
            )
        name = candidates[0]
    size = layer_tools.extract_file(kernel.layers, index, name, destination)
    if size == 0:
        raise BuildError(f"{kernel.reference}: the kernel file /{name} is empty")


def _write_root(
    recipe: Recipe,
    run: _Run,
    images: dict[str, PulledImage],
    kernel: PulledImage,
    kernel_index: layer_tools.StackIndex,
    modules_tar: Path | None,
    writer: CpioWriter,
) -> None:
    # Init images are unpacked over each other at the root: one layer stack.
    stack = [layer for image in recipe.init for layer in images[image].layers]
    index = layer_tools.index_stack(stack, run.check_cancel) if stack else None
    # A merged-/usr root (Debian's: /lib is a link to usr/lib) gets the kernel's modules under
    # usr/lib: a real lib/ directory written first would keep the link from being made, and
    # every library would go missing at boot.
    merged_usr = index is not None and "lib" in index.winners and "lib" not in index.directories
    if merged_usr:
        run.log("init has a merged /usr: kernel modules go to /usr/lib/modules")
    modules_prefix = "usr/" if merged_usr else ""

    def modules_only(path: str) -> bool:
        return path.startswith("lib/modules") or (path == "lib" and not merged_usr)

    if modules_tar is not None:
        # kernel.tar is unpacked at the root, as LinuxKit does.
        tar_stack = [modules_tar]
        layer_tools.stream_stack(
            tar_stack,
            layer_tools.index_stack(tar_stack),
            writer,
            prefix=modules_prefix,
            include=(lambda path: True) if not merged_usr else modules_only,
            check_cancel=run.check_cancel,
        )
    else:
        layer_tools.stream_stack(
            kernel.layers,
            kernel_index,
            writer,
            prefix=modules_prefix,
            include=modules_only,
            check_cancel=run.check_cancel,
        )
    if index is not None:
        count = layer_tools.stream_stack(stack, index, writer, check_cancel=run.check_cancel)
        run.log(f"init: {count} entries at /")


def _extract_ucode(
    recipe: Recipe, kernel: PulledImage, index: layer_tools.StackIndex, scratch: Path
) -> Path | None:
    """``kernel.ucode`` names a microcode cpio in the kernel image; it goes before the initramfs."""
    name = (recipe.kernel.ucode or "").strip("/")
    if not name:
        return None
    if name not in index.winners:
        raise BuildError(f"{kernel.reference}: kernel ucode '/{name}' is not in the kernel image")
    destination = scratch / "ucode.cpio"
    layer_tools.extract_file(kernel.layers, index, name, destination)
    return destination


def _write_bundle(
    run: _Run,
    bundles: BundleWriter,
    image: PulledImage,
    kind: str,
    position: int,
    spec: ImageSpec,
    ids: dict[str, int],
) -> None:
    bundle = bundle_path(kind, position, spec.name)
    try:
        config = container_config(spec, image.config, ids)
    except ConfigError as exc:
        raise BuildError(f"{kind} {spec.name}: {exc}") from exc
    count, shared = bundles.container(image, bundle, config)
    shared_note = " (files shared with an earlier container of the same image)" if shared else ""
    run.log(f"{kind} {spec.name}: {count} entries at /{bundle}{shared_note}")


def _remove_leftovers(out_dir: Path) -> None:
    """Scratch directories of builds that were killed (a worker dies, a machine reboots)."""
    for leftover in [*out_dir.glob(".work-*"), *out_dir.glob(".linuxkit-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _artifact(path: Path) -> Artifact:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return Artifact(path.name, path, path.stat().st_size, digest.hexdigest())
