"""The parts of the gRPC service that need no server: sizes, peers, kernel arguments."""

from __future__ import annotations

import pytest

from netboot.services import BootTarget, hook_kernel_args
from tinkerbell.agent_grpc import workflow_pb2 as pb
from tinkerbell.agent_grpc.hardware import hardware_report, parse_size
from tinkerbell.agent_grpc.service import peer_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17179869184", 17179869184),
        ("16GB", 16 * 1024**3),
        ("16 GiB", 16 * 1024**3),
        ("512 B", 512),
        ("1.5TB", int(1.5 * 1024**4)),
        ("", None),
        ("unknown", None),
    ],
)
def test_sizes_as_tink_agent_writes_them(text, expected):
    assert parse_size(text) == expected


def test_a_size_that_does_not_parse_is_kept_as_text():
    report = hardware_report(
        pb.AgentAttributes(memory=pb.Memory(total="lots"), block=[pb.Block(name="vda", size="?")])
    )
    assert report["memory"] == "lots"
    assert report["disks"] == [{"name": "vda", "device": "/dev/vda", "size": "?"}]


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("ipv4:10.0.0.5:50123", "10.0.0.5"),
        ("ipv6:%5B::1%5D:50123", "::1"),
        ("ipv6:[fe80::1]:7", "fe80::1"),
        ("unix:/run/grpc.sock", None),
    ],
)
def test_peer_addresses(peer, expected):
    assert peer_address(peer) == expected


def test_tls_on_the_server_is_announced_to_hook(settings):
    target = BootTarget(mac="52:54:00:00:00:01", arch="x86_64")
    assert "tinkerbell_tls=false" in hook_kernel_args(target=target, token="t").split()
    settings.TINKERBELL_GRPC_TLS_CERT = "/etc/rackpilot/grpc.pem"
    assert "tinkerbell_tls=true" in hook_kernel_args(target=target, token="t").split()
