"""Many agent sockets leaving at once (a network blip, a switch reboot) each leave their
machine's group: the channel layer's Redis pool takes the burst (CHANNELS_REDIS_MAX_CONNECTIONS)
instead of refusing most of the discards, which left stale members in the groups."""

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


def _group_sizes(machine_ids: list[int]) -> list[int]:
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    client = redis.Redis.from_url(config["hosts"][0]["address"])
    prefix = config["prefix"]
    return [client.zcard(f"{prefix}:group:{agent_group(pk)}") for pk in machine_ids]


def test_a_burst_of_disconnects_leaves_no_socket_in_its_group(
    asgi_live_server: AsgiLiveServer,
) -> None:
    if "address" not in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]:
        pytest.skip("the groups are read from a plain Redis address")
    machines = [MachineFactory() for _ in range(AGENTS)]
    tokens = [agent_token_issue(machine=m, actor=Actor.system("tests"))[1] for m in machines]
    ids = [m.pk for m in machines]
    # Another run on this Redis may have left members under the same names (ids restart with
    # each test database): counted from what is there now.
    before = sum(_group_sizes(ids))

    async def wait_for_total(total: int) -> int:
        for _ in range(100):
            if sum(_group_sizes(ids)) == total:
                break
            await asyncio.sleep(0.1)
        return sum(_group_sizes(ids))

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
        # each joins its machine's group just after the handshake
        assert await wait_for_total(before + AGENTS) == before + AGENTS
        # all at once, as a network blip drops them
        await asyncio.gather(*(socket.close() for socket in sockets))
        assert await wait_for_total(before) == before

    asyncio.run(connect_all_then_drop())
    assert "MaxConnectionsError" not in asgi_live_server.output()
