"""Many agent sockets leaving at once (a network blip, a switch reboot) each leave their
machine's group: once the last socket of a group is gone from a web process, the process no
longer listens to that group (its Redis subscription ends), and nothing fails on the way."""

from __future__ import annotations

import asyncio

import pytest
import redis
import websockets
from django.conf import settings

from rackpilot.core.actors import Actor
from tests.factories import MachineFactory
from tests.live_server import AsgiLiveServer, asgi_live_server
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.groups import agent_group

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
AGENTS = 200


def _group_listeners(machine_ids: list[int]) -> list[int]:
    """How many processes listen to each machine's agent group (Redis subscribers)."""
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    client = redis.Redis.from_url(config["hosts"][0]["address"])
    prefix = config["prefix"]
    names = [f"{prefix}__group__{agent_group(pk)}" for pk in machine_ids]
    return [int(count) for _, count in client.pubsub_numsub(*names)]


def test_a_burst_of_disconnects_leaves_no_socket_in_its_group(
    asgi_live_server: AsgiLiveServer,
) -> None:
    if "address" not in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]:
        pytest.skip("the groups are read from a plain Redis address")
    machines = [MachineFactory() for _ in range(AGENTS)]
    tokens = [agent_token_issue(machine=m, actor=Actor.system("tests"))[1] for m in machines]
    ids = [m.pk for m in machines]
    # Another test's server on this Redis may listen under the same names (ids restart with
    # each test database): counted from what is there now.
    before = sum(_group_listeners(ids))

    async def wait_for_total(total: int) -> int:
        for _ in range(100):
            if sum(_group_listeners(ids)) == total:
                break
            await asyncio.sleep(0.1)
        return sum(_group_listeners(ids))

    async def connect_all_then_drop() -> None:
        sockets = []
        for start in range(0, AGENTS, 50):
            sockets += await asyncio.gather(
                *(
                    websockets.connect(
                        asgi_live_server.ws_url + "/ws/agent/",
                        additional_headers={"Authorization": f"Bearer {token}"},
                    )
                    for token in tokens[start : start + 50]
                )
            )
        # each joins its machine's group just after the handshake: the one server process
        # subscribes to each of the groups
        assert await wait_for_total(before + AGENTS) == before + AGENTS
        # all at once, as a network blip drops them
        await asyncio.gather(*(socket.close() for socket in sockets))
        assert await wait_for_total(before) == before

    asyncio.run(connect_all_then_drop())
    output = asgi_live_server.output()
    assert "Traceback" not in output and "MaxConnectionsError" not in output
