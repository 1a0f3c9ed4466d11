"""Rackpilot's Hook builder: LinuxKit recipes to a bootable kernel + initramfs, no Docker needed.

A plain Python package (no Django) so it runs from Celery, from the CLI (``python -m
builds.builder``) and from benchmarks alike.
"""

from builds.builder.build import Artifact, BuildCancelled, BuildError, BuildResult, Step, build
from builds.builder.recipe import Problem, check_recipe, lint_recipe

__all__ = [
    "Artifact",
    "BuildCancelled",
    "BuildError",
    "BuildResult",
    "Problem",
    "Step",
    "build",
    "check_recipe",
    "lint_recipe",
]
