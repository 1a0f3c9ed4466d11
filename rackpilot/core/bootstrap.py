"""First-run steps the apps plug into ``manage.py bootstrap``: each app registers what it sets
up (the demo fleet, the shipped Hook recipes) from its AppConfig.ready, so the command in this
lowest layer needs to know none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rackpilot.core.actors import Actor

# (actor, whether demo content is wanted) -> what the step did, for the command's output.
StepRun = Callable[[Actor, bool], str | None]


@dataclass(frozen=True)
class BootstrapStep:
    order: int
    name: str
    run: StepRun


_steps: dict[str, BootstrapStep] = {}


def register_bootstrap_step(*, order: int, name: str, run: StepRun) -> None:
    """Register (or replace, by name) a step; steps run by ``order``."""
    _steps[name] = BootstrapStep(order, name, run)


def bootstrap_steps() -> list[BootstrapStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))
