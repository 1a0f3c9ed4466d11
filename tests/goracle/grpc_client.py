"""Builds ``tinkclient`` (tinkclient/main.go): a Go client of the WorkflowService generated from
the project's .proto by Debian's protoc, protoc-gen-go and protoc-gen-go-grpc, against Debian's
grpc-go and protobuf Go sources (GOPATH mode: no module download). A second implementation,
independent of the Python one, to talk to the server.

Missing tools skip the tests that need it with the reason, except under CI (``CI=true``), where
they fail.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "tinkerbell/agent_grpc/workflow.proto"
CLIENT = Path(__file__).with_name("tinkclient") / "main.go"
GOCODE = Path("/usr/share/gocode/src")
CACHE = Path.home() / ".cache" / "rackpilot" / "tinkclient"
NEEDS = {
    "go": "golang-go",
    "protoc": "protobuf-compiler",
    "protoc-gen-go": "protoc-gen-go",
    "protoc-gen-go-grpc": "protoc-gen-go-grpc",
}
SOURCES = {
    "google.golang.org/grpc": "golang-google-grpc-dev",
    "google.golang.org/protobuf": "golang-google-protobuf-dev",
    "google.golang.org/genproto/googleapis/rpc/errdetails": "golang-google-genproto-dev",
}


@functools.cache
def tinkclient() -> Path:
    """The built client (cached by the hash of the .proto, the client and the toolchain)."""
    for tool, package in NEEDS.items():
        require_tool(shutil.which(tool) is not None, f"{tool} (Debian package {package})")
    for source, package in SOURCES.items():
        require_tool((GOCODE / source).is_dir(), f"{source} (Debian package {package})")
    version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True)
    digest = hashlib.sha256(PROTO.read_bytes() + CLIENT.read_bytes() + version.stdout.encode())
    home = CACHE / digest.hexdigest()[:16]
    binary = home / "tinkclient"
    if binary.exists():
        return binary
    generated = home / "src/rackpilot.local/tinkproto"
    program = home / "src/rackpilot.local/tinkclient"
    generated.mkdir(parents=True, exist_ok=True)
    program.mkdir(parents=True, exist_ok=True)
    shutil.copy(CLIENT, program / "main.go")
    subprocess.run(
        [
            "protoc",
            f"-I{PROTO.parent}",
            "-I/usr/include",
            f"--go_out={generated}",
            "--go_opt=paths=source_relative",
            f"--go-grpc_out={generated}",
            "--go-grpc_opt=paths=source_relative",
            PROTO.name,
        ],
        cwd=PROTO.parent,
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{home}:{GOCODE.parent}",
        "GOCACHE": str(CACHE / "gocache"),
    }
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "rackpilot.local/tinkclient"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return binary


def run_tinkclient(address: str, agent_id: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(tinkclient()), "-addr", address, "-agent", agent_id, *args],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
