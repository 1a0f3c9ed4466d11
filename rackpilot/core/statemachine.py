"""Transition tables: each stateful model declares its allowed moves in one table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class TransitionError(Exception):
    """A state change the model's transition table does not allow (the API answers 409)."""

    code = "invalid_transition"

    def __init__(self, *, entity: str, current: str, target: str, allowed: Iterable[str]):
        self.entity = entity
        self.current = current
        self.target = target
        self.allowed = sorted(allowed)
        allowed_text = ", ".join(self.allowed) or "none"
        super().__init__(
            f"{entity} cannot go from '{current}' to '{target}' (allowed from '{current}': "
            f"{allowed_text})"
        )


class StateMachine:
    def __init__(
        self,
        *,
        entity: str,
        transitions: Mapping[str, Iterable[str]],
        error: type[TransitionError] = TransitionError,
        reachable_from_any: Iterable[str] = (),
    ):
        self.entity = entity
        self.error = error
        terminal_any = set(reachable_from_any)
        self.transitions: dict[str, frozenset[str]] = {
            state: frozenset(set(targets) | (terminal_any - {state}))
            for state, targets in transitions.items()
        }

    def allowed_from(self, current: str) -> frozenset[str]:
        return self.transitions.get(current, frozenset())

    def can(self, current: str, target: str) -> bool:
        return target in self.allowed_from(current)

    def check(self, current: str, target: str) -> None:
        if not self.can(current, target):
            raise self.error(
                entity=self.entity,
                current=current,
                target=target,
                allowed=self.allowed_from(current),
            )
