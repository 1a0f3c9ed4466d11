"""The conformance figures: per kind, the corpus files Rackpilot handles as the table says,
against the files Tinkerbell itself accepts; printed at the end of the test run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

LABELS = {
    "templates": "templates rendered",
    "hardware": "hardware imported",
    "workflows": "workflows imported",
    "linuxkit": "LinuxKit recipes accepted",
}


@dataclass
class Outcome:
    passed: bool
    tinkerbell_accepts: bool
    documents: int = 1


RESULTS: dict[str, dict[str, Outcome]] = defaultdict(dict)


def record(
    kind: str, name: str, *, passed: bool, tinkerbell_accepts: bool, documents: int = 1
) -> None:
    RESULTS[kind][name] = Outcome(passed, tinkerbell_accepts, documents)


def lines() -> list[str]:
    out = []
    for kind, label in LABELS.items():
        results = RESULTS.get(kind, {})
        if not results:
            continue
        accepted = [o for o in results.values() if o.tinkerbell_accepts]
        refused = [o for o in results.values() if not o.tinkerbell_accepts]
        out.append(
            f"{kind}: {sum(o.passed for o in accepted)}/{len(accepted)} files Tinkerbell "
            f"accepts are {label} by Rackpilot (the others are refused, as the table says "
            f"why); {sum(o.passed for o in refused)}/{len(refused)} files Tinkerbell refuses "
            "(negative/broken) are refused with a located error"
        )
    go = RESULTS.get("go", {})
    if go:
        out.append(
            f"templates: {sum(o.passed for o in go.values())}/{len(go)} files "
            f"({sum(o.documents for o in go.values() if o.passed)} template documents) render "
            "byte-identical to Go's text/template + Sprig + Tinkerbell's functions "
            "(or are refused by both)"
        )
    return out
