"""Who made a change: an operator, an agent running on a machine, or Rackpilot itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" | "agent" | "system"
    name: str
    user_id: int | None = None

    USER = "user"
    AGENT = "agent"
    SYSTEM = "system"

    @classmethod
    def for_user(cls, user: AbstractBaseUser | AnonymousUser | Any) -> Actor:
        if user is None or not getattr(user, "is_authenticated", False):
            return cls.system("anonymous")
        return cls(kind=cls.USER, name=user.get_username(), user_id=user.pk)

    @classmethod
    def system(cls, name: str = "rackpilot") -> Actor:
        return cls(kind=cls.SYSTEM, name=name)

    @classmethod
    def agent(cls, worker_id: str) -> Actor:
        return cls(kind=cls.AGENT, name=worker_id)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"
