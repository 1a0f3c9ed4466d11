"""Builds ``render.go`` (Go text/template + Sprig's hermetic functions) and runs it in batches.

The program is built once per source/toolchain/Sprig combination into
``~/.cache/rackpilot/goracle/<hash>/`` in GOPATH mode against Debian's packaged Go sources
(golang-go, golang-github-masterminds-sprig-dev), so no module download is ever needed.

Where Go or Sprig is missing the tests that need the oracle skip with the reason, except under
CI (``CI=true``), where they fail: an oracle that silently never runs proves nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("render.go")
GOPATH = Path("/usr/share/gocode")
SPRIG = GOPATH / "src/github.com/Masterminds/sprig"
CACHE = Path.home() / ".cache" / "rackpilot" / "goracle"


@dataclass(frozen=True)
class GoResult:
    output: bytes
    error: str

    @property
    def ok(self) -> bool:
        return not self.error


class OracleUnavailable(Exception):
    pass


def _go() -> str:
    go = shutil.which("go") or ("/usr/bin/go" if Path("/usr/bin/go").exists() else None)
    if go is None:
        raise OracleUnavailable("the go toolchain is not installed (Debian package golang-go)")
    if not (SPRIG / "functions.go").exists():
        raise OracleUnavailable(
            f"Sprig's source is not at {SPRIG} (Debian package golang-github-masterminds-sprig-dev)"
        )
    return go


def _digest(go: str, source: Path) -> str:
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(source.read_bytes())
    digest.update(version.encode())
    for path in sorted(SPRIG.glob("*.go")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _binary(source: Path = SOURCE) -> Path:
    go = _go()
    target_dir = CACHE / _digest(go, source)
    binary = target_dir / source.stem
    if binary.exists():
        return binary
    target_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(CACHE / "gocache"),
        "GOFLAGS": "",
    }
    # Build to a temporary name first so concurrent sessions never run a half-written binary.
    with tempfile.TemporaryDirectory(dir=target_dir) as scratch:
        built = Path(scratch) / source.stem
        result = subprocess.run(
            [go, "build", "-o", str(built), str(source)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise OracleUnavailable(f"building {source.name} failed:\n{result.stderr}")
        built.replace(binary)
    return binary


def go_oracle(source: Path = SOURCE) -> Path:
    """The binary built from ``source`` (the template renderer unless told); skips (locally) or
    fails (CI) the calling test when Go or a Go package it needs is unavailable."""
    try:
        return _binary(source)
    except OracleUnavailable as problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Go oracle unavailable under CI: {problem}")
        pytest.skip(f"Go oracle unavailable: {problem}")


def render_in_go(
    cases: Sequence[tuple[str, object]], *, tinkerbell: bool = False
) -> list[GoResult]:
    """Render each (template, data) pair with Go; one process for the whole batch. With
    ``tinkerbell`` the data's ``Hardware`` becomes Tinkerbell's Go structs and the output is
    capped at 256 KiB, as Tinkerbell renders workflow templates."""
    if not cases:
        return []
    binary = go_oracle()
    payload = json.dumps(
        [{"template": source, "data": data, "tinkerbell": tinkerbell} for source, data in cases]
    )
    result = subprocess.run(
        [str(binary)],
        input=payload.encode(),
        capture_output=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Go oracle failed: {result.stderr.decode(errors='replace')}")
    answers = json.loads(result.stdout)
    return [
        GoResult(output=base64.b64decode(answer["output_b64"]), error=answer["error"])
        for answer in answers
    ]


@dataclass(frozen=True)
class Case:
    """One template rendered by both engines; ``data`` must be JSON."""

    template: str
    data: object = None

    @property
    def id(self) -> str:
        return self.template if len(self.template) <= 60 else self.template[:57] + "..."


def python_result(case: Case) -> GoResult:
    """The Python engine's answer, in the oracle's shape (output bytes, or an error)."""
    from workflows.gotemplate import TemplateError, render

    data = json.loads(json.dumps(case.data))
    try:
        text = render(case.template, data)
    except TemplateError as error:
        return GoResult(output=b"", error=str(error) or "error")
    return GoResult(output=text.encode("utf-8", "surrogateescape"), error="")


class Oracle:
    """Renders batches of cases in Go once and remembers the answers."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], GoResult] = {}

    def prefetch(self, cases: Sequence[Case]) -> None:
        missing = [c for c in cases if self._key(c) not in self._answers]
        unique = list({self._key(c): c for c in missing}.values())
        for case, answer in zip(
            unique, render_in_go([(c.template, c.data) for c in unique]), strict=True
        ):
            self._answers[self._key(case)] = answer

    def answer(self, case: Case) -> GoResult:
        if self._key(case) not in self._answers:
            self.prefetch([case])
        return self._answers[self._key(case)]

    @staticmethod
    def _key(case: Case) -> tuple[str, str]:
        return case.template, json.dumps(case.data, sort_keys=True)


def assert_same(oracle: Oracle, case: Case) -> None:
    """Both engines accept with byte-identical output, or both refuse."""
    go = oracle.answer(case)
    python = python_result(case)
    if go.ok or python.ok:
        assert python.ok and go.ok and python.output == go.output, (
            f"template {case.template!r} data {case.data!r}\n"
            f"  go:     {go.output!r} {go.error}\n  python: {python.output!r} {python.error}"
        )
    else:
        # Both refused; the Python message names the position in the template.
        assert re.search(r":\d+:\d+: ", python.error), python.error
