"""The sockets' JSON (rackpilot/core/wire_json.py): orjson where it reads and writes the same
document as the standard library, the standard library where it would refuse one, so a frame is
accepted, refused or written exactly as before."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async

from rackpilot.core import wire_json
from tests.workflows.conftest import agent_fleet, agent_socket


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "logs", "lines": [{"text": "ünïcödé ✓ 🚀", "ts": null}], "n": -1.5e3}',
        '{"deep": ' + "[" * 200 + "]" * 200 + "}",
        '{"big": 123456789012345678}',
    ],
)
def test_what_both_read_is_read_the_same(text: str):
    assert wire_json.loads(text) == json.loads(text)


def test_what_orjson_refuses_the_standard_library_reads():
    assert wire_json.loads('{"text": "\\ud800"}') == {"text": "\ud800"}  # a lone surrogate
    assert math.isnan(wire_json.loads('{"x": NaN}')["x"])
    with pytest.raises(RecursionError):  # past both: the socket says "nested too deeply"
        wire_json.loads("[" * 5000 + "]" * 5000)
    with pytest.raises(ValueError):
        wire_json.loads("{not json")


def test_writing_gives_the_same_document_and_refuses_what_the_standard_library_refuses():
    frame = {"type": "lines", "lines": [{"seq": 1, "text": "a\u2400b\n"}], 7: "an int key"}
    assert json.loads(wire_json.dumps(frame)) == json.loads(json.dumps(frame))
    assert wire_json.dumps({"big": 2**70}) == '{"big": 1180591620717411303424}'  # past 64 bits
    with pytest.raises(TypeError):
        wire_json.dumps({"when": datetime(2026, 12, 7, tzinfo=UTC)})


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_lone_surrogate_in_a_sockets_batch_is_still_named_by_its_line():
    ((_, raw, actions),) = await database_sync_to_async(agent_fleet)(1, "wire", "52:54:00:e4")
    ws = await agent_socket(raw, actions[0])
    frame = (
        f'{{"id": 5, "type": "logs", "action": {actions[0].pk}, "attempt": 1, "first_seq": 1,'
        ' "lines": [{"text": "ok"}, {"text": "\\ud800"}]}'
    )
    await ws.send_to(text_data=frame)
    reply = await ws.receive_json_from(timeout=10)
    assert reply["type"] == "error" and reply["reply_to"] == 5
    assert "Line 1: not UTF-8 text" in json.dumps(reply)
    await ws.disconnect()
