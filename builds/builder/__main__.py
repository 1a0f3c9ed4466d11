"""``python -m builds.builder RECIPE.yaml [--check | --arch ARCH --out DIR ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builds.builder import BuildError, build, lint_recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builds.builder", description=__doc__)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--check", action="store_true", help="only validate the recipe")
    parser.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    parser.add_argument("--out", type=Path, help="directory for vmlinuz-ARCH and initramfs-ARCH")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "rackpilot-hook")
    parser.add_argument("--compression", default="zstd", choices=["zstd", "gzip"])
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a registry spoken to over plain HTTP (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        text = args.recipe.read_text()
    except OSError as exc:
        print(f"{args.recipe}: {exc.strerror}", file=sys.stderr)
        return 1
    if args.check:
        problems, warnings = lint_recipe(text)
        for problem in problems:
            print(f"{args.recipe}:{problem}", file=sys.stderr)
        for warning in warnings:
            print(
                f"{args.recipe}:{warning.line}:{warning.column}: warning: {warning.message}",
                file=sys.stderr,
            )
        return 1 if problems else 0
    if args.out is None:
        parser.error("--out is required unless --check is given")
    try:
        result = build(
            text,
            arch=args.arch,
            out_dir=args.out,
            cache_dir=args.cache,
            log=lambda line: print(line, file=sys.stderr),
            compression=args.compression,
            insecure_registries=args.insecure_registry,
        )
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    for artifact in result.artifacts:
        print(f"{artifact.path}  {artifact.size} bytes  sha256:{artifact.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
