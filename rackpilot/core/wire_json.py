"""JSON on the sockets: the agents' messages read, the browsers' frames written.

Every line an agent logs arrives as JSON and leaves again as JSON for each viewer; with the
standard library's json that was the web process's largest cost on a log batch (py-spy,
`benchmarks/log_pipeline.py`). orjson parses and writes the same documents several times
faster. What it refuses and the standard library accepts (a lone surrogate escape, NaN, nesting
past 1,024 levels) is read by the standard library instead, so a frame is accepted or refused as
before and the checks that name a bad line still run (one difference: an integer past 64 bits
reads as a float, which no field of the protocols takes either way); what it cannot write (a
type it does not know) is written by the standard library, which raises as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Dictionary keys that are not strings (an action id) are written as the standard library
# writes them; datetimes and dataclasses, which orjson would write and the standard library
# refuses, go to the standard library (and are refused: a frame says how it writes a time).
_DUMP_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)
