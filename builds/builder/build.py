"""One build: pull every image, extract the kernel, stream the initramfs, report artifacts."""

from __future__ import annotations

import hashlib
import json
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
from builds.builder.cache import BlobCache, DigestMismatch
from builds.builder.initramfs import COMPRESSIONS, CpioWriter, open_initramfs
from builds.builder.layout import bundle_path, runtime_config
from builds.builder.recipe import FileSpec, Recipe, RecipeError, parse_recipe
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
    for note in recipe.notes:
        run.log(f"note: {note}")
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
    wanted = [recipe.kernel.image, *recipe.init, *(spec.image for _, _, spec in containers)]
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
        partial = Path(scratch) / initramfs_path.name
        with run.step("write initramfs", 55), open_initramfs(partial, compression) as writer:
            _write_root(recipe, run, images, kernel, kernel_index, modules_tar, writer)
            for number, (kind, position, spec) in enumerate(containers):
                run.progress(60 + 30 * number // max(len(containers), 1), "write initramfs")
                _write_bundle(run, images[spec.image], kind, position, spec, writer)
            for file in recipe.files:
                _write_file(file, writer)
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


def _write_bundle(
    run: _Run, image: PulledImage, kind: str, position: int, spec, writer: CpioWriter
) -> None:
    bundle = bundle_path(kind, position, spec.name)
    writer.directory(bundle, mode=0o755)
    writer.directory(f"{bundle}/rootfs", mode=0o755)
    index = layer_tools.index_stack(image.layers, run.check_cancel)
    count = layer_tools.stream_stack(
        image.layers, index, writer, prefix=f"{bundle}/rootfs/", check_cancel=run.check_cancel
    )
    config = json.dumps(runtime_config(spec, image.config), indent=2).encode()
    writer.file(f"{bundle}/config.json", (config,), len(config), mode=0o644)
    run.log(f"{kind} {spec.name}: {count} entries at /{bundle}")


def _write_file(file: FileSpec, writer: CpioWriter) -> None:
    path = file.path.strip("/")
    if file.directory:
        writer.directory(path, mode=file.mode or 0o755, uid=file.uid, gid=file.gid)
    elif file.symlink is not None:
        writer.symlink(path, file.symlink, uid=file.uid, gid=file.gid)
    else:
        if file.source is not None:
            source = Path(file.source).expanduser()
            if not source.is_file():
                if file.optional:
                    return
                raise BuildError(f"files: {file.path}: source {file.source} does not exist")
            data = source.read_bytes()
        else:
            data = (file.contents or "").encode()
        writer.file(path, (data,), len(data), mode=file.mode or 0o600, uid=file.uid, gid=file.gid)


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
