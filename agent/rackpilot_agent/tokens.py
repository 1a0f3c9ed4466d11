"""Which token to connect with: the configured one, a file's, or a renewal of them.

The operator's token comes from the settings or, with ``--token-file``, from a file re-read
before every connection (so a revoked token can be replaced without restarting the agent).
A renewed token is kept in the state directory with the hash of the token it renews: an agent
restarted mid-workflow keeps using the renewal, and a token the operator puts in place later
(a different hash) wins over it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(minutes=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Renewal:
    base_digest: str
    token: str
    expires_at: datetime


class TokenStore:
    def __init__(
        self,
        *,
        configured: str,
        token_file: Path | None,
        state_path: Path,
        expires_at: datetime | None = None,
    ) -> None:
        self.configured = configured
        self.token_file = token_file
        self.state_path = state_path
        self.configured_expires_at = expires_at
        self._renewal = self._load()

    def _load(self) -> Renewal | None:
        try:
            data = json.loads(self.state_path.read_text())
            return Renewal(
                base_digest=data["base"],
                token=data["token"],
                expires_at=datetime.fromisoformat(data["expires_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _base(self) -> str:
        if self.token_file is not None:
            try:
                text = self.token_file.read_text().strip()
            except OSError as exc:
                log.warning("cannot read the token file %s: %s", self.token_file, exc)
            else:
                if text:
                    return text
        return self.configured

    def _valid_renewal(self, base: str) -> Renewal | None:
        renewal = self._renewal
        if renewal is None or renewal.base_digest != _digest(base):
            return None
        if renewal.expires_at <= datetime.now(UTC):
            return None
        return renewal

    def current(self) -> str:
        base = self._base()
        renewal = self._valid_renewal(base)
        return renewal.token if renewal else base

    def expires_at(self) -> datetime | None:
        renewal = self._valid_renewal(self._base())
        return renewal.expires_at if renewal else self.configured_expires_at

    def seconds_until_renewal(self, now: datetime | None = None) -> float | None:
        """None when the expiry is unknown (the server only says it when renewing)."""
        expires = self.expires_at()
        if expires is None:
            return None
        now = now or datetime.now(UTC)
        return max(0.0, (expires - RENEW_BEFORE - now).total_seconds())

    def renewed(self, token: str, expires_at: datetime) -> None:
        base = self._base()
        self._renewal = Renewal(base_digest=_digest(base), token=token, expires_at=expires_at)
        data = {"base": _digest(base), "token": token, "expires_at": expires_at.isoformat()}
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(temporary, self.state_path)
        except OSError as exc:  # the renewal still works for this process
            log.warning("cannot keep the renewed token in %s: %s", self.state_path, exc)
