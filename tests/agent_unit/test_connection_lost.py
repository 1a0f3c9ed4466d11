"""A request on a socket that has just died: ``call`` waits for the next connection instead of
resending on the dead one (a send that fails without waiting would loop forever, never letting
the reader notice the close and reconnect)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from rackpilot_agent.config import Settings
from rackpilot_agent.connection import Connection
from rackpilot_agent.tokens import TokenStore
from websockets.exceptions import ConnectionClosedError


class DeadSocket:
    """A socket whose peer is gone: every send fails at once."""

    def __init__(self) -> None:
        self.sends = 0

    async def send(self, text: str) -> None:
        self.sends += 1
        raise ConnectionClosedError(None, None)


class LiveSocket:
    """A socket that answers each request through the connection's dispatch."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def send(self, text: str) -> None:
        import json

        request = json.loads(text)
        reply = {"type": "no_work", "reply_to": request["id"]}
        asyncio.get_running_loop().call_soon(self.connection._dispatch, reply)


def test_a_call_on_a_dead_socket_waits_for_the_next_connection(
    agent_settings: Settings, tmp_path: Path
):
    async def scenario() -> tuple[int, dict[str, Any]]:
        tokens = TokenStore(configured="rpa_test", token_file=None, state_path=tmp_path / "t")
        connection = Connection(
            agent_settings, tokens, dict, on_work=lambda frame: None, on_cancel=lambda a, b: None
        )
        dead = DeadSocket()
        connection._ws = dead  # type: ignore[assignment]
        connection._connected.set()  # the reader has not noticed the close yet
        call = asyncio.create_task(connection.call({"type": "next_action"}))
        await asyncio.sleep(0.2)
        assert not call.done()
        # The session comes back (what _session does after a new hello).
        connection._ws = LiveSocket(connection)  # type: ignore[assignment]
        connection._connected.set()
        reply = await asyncio.wait_for(call, 5)
        return dead.sends, reply

    # In a thread of its own: a call that spins never yields, so no timeout inside its event
    # loop could end it; this one fails the test instead of hanging it.
    results: list[tuple[int, dict[str, Any]]] = []
    runner = threading.Thread(target=lambda: results.append(asyncio.run(scenario())), daemon=True)
    runner.start()
    runner.join(timeout=15)
    assert results, "the call kept resending on the dead socket"
    sends, reply = results[0]
    assert sends == 1  # tried once on the dead socket, then waited
    assert reply["type"] == "no_work"
