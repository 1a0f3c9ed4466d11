"""Settings: flags > environment > kernel command line > defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rackpilot_agent.config import (
    ConfigError,
    build_parser,
    load_settings,
    parse_cmdline,
    parse_size,
    websocket_url,
)

HOOK_CMDLINE = (
    "console=ttyS0 ip=dhcp rackpilot_url=http://10.0.0.1:8000 rackpilot_token=rpa_fromcmdline "
    "worker_id=52:54:00:00:00:01 hw_addr=52:54:00:00:00:02 grpc_authority=10.0.0.1:42113 "
    'tinkerbell_tls=false syslog_host=10.0.0.1 facility=onprem quiet -- initarg="a b"\n'
)


@pytest.fixture
def cmdline(tmp_path: Path) -> Path:
    path = tmp_path / "cmdline"
    path.write_text(HOOK_CMDLINE)
    return path


def test_cmdline_parsing_handles_quotes_bare_words_and_repeats():
    params = parse_cmdline('quiet a=1 b="two words" c= a=3 url=http://x/?q=1')
    assert params == {"quiet": "", "a": "3", "b": "two words", "c": "", "url": "http://x/?q=1"}


def test_an_unbalanced_quote_still_parses():
    assert parse_cmdline('a="open b=2')["b"] == "2"


def test_the_kernel_command_line_alone_configures_the_agent(cmdline: Path):
    settings = load_settings([], environ={}, cmdline_path=cmdline)
    assert settings.url == "http://10.0.0.1:8000"
    assert settings.token == "rpa_fromcmdline"
    assert settings.worker_id == "52:54:00:00:00:01"  # worker_id= wins over hw_addr=
    assert settings.kernel_params == {
        "grpc_authority": "10.0.0.1:42113",
        "tinkerbell_tls": "false",
        "syslog_host": "10.0.0.1",
        "hw_addr": "52:54:00:00:00:02",
        "facility": "onprem",
    }
    assert settings.websocket_url == "ws://10.0.0.1:8000/ws/agent/"


def test_environment_beats_cmdline_and_flags_beat_both(cmdline: Path):
    environ = {"RACKPILOT_URL": "https://env.example", "RACKPILOT_TOKEN": "rpa_env"}
    from_env = load_settings([], environ=environ, cmdline_path=cmdline)
    assert (from_env.url, from_env.token) == ("https://env.example", "rpa_env")

    from_flags = load_settings(
        ["--url", "http://flag:1", "--worker-id", "aa:bb:cc:dd:ee:ff"],
        environ=environ,
        cmdline_path=cmdline,
    )
    assert from_flags.url == "http://flag:1"
    assert from_flags.token == "rpa_env"  # no flag: the environment still wins over cmdline
    assert from_flags.worker_id == "aa:bb:cc:dd:ee:ff"


def test_an_empty_environment_variable_counts_as_unset(cmdline: Path):
    settings = load_settings([], environ={"RACKPILOT_URL": ""}, cmdline_path=cmdline)
    assert settings.url == "http://10.0.0.1:8000"


def test_defaults_and_typed_values(tmp_path: Path):
    base = ["--url", "http://s", "--token", "rpa_x", "--worker-id", "52:54:00:00:00:09"]
    settings = load_settings(base, environ={}, cmdline_path=tmp_path / "missing")
    assert settings.docker_host == "unix:///var/run/docker.sock"
    assert settings.network_mode == "host"
    assert settings.spool_cap == 256 << 20
    assert settings.pull_attempts == 3
    assert settings.max_auth_failures == 0
    assert settings.spool_dir == Path("/var/lib/rackpilot-agent/spool")

    tuned = load_settings(
        [*base, "--spool-cap", "64M", "--backoff-max", "5", "--once"],
        environ={"DOCKER_HOST": "unix:///run/podman.sock", "RACKPILOT_PULL_ATTEMPTS": "5"},
        cmdline_path=tmp_path / "missing",
    )
    assert tuned.spool_cap == 64 << 20
    assert tuned.backoff_max == 5.0
    assert tuned.docker_host == "unix:///run/podman.sock"
    assert tuned.pull_attempts == 5
    assert tuned.once
    assert tuned.max_auth_failures == 1  # a one-shot run does not wait for a new token


def test_token_expiry_is_parsed_as_utc(tmp_path: Path):
    settings = load_settings(
        ["--url", "http://s", "--token", "rpa_x", "--worker-id", "52:54:00:00:00:09"],
        environ={"RACKPILOT_TOKEN_EXPIRES_AT": "2030-01-02T03:04:05Z"},
        cmdline_path=tmp_path / "missing",
    )
    assert settings.token_expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_worker_id_falls_back_to_hw_addr_then_to_the_first_nic(tmp_path: Path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("rackpilot_url=http://s rackpilot_token=rpa_x hw_addr=52:54:00:00:00:07")
    assert load_settings([], environ={}, cmdline_path=cmdline).worker_id == "52:54:00:00:00:07"

    cmdline.write_text("rackpilot_url=http://s rackpilot_token=rpa_x")
    nic = tmp_path / "root/sys/class/net/eth0"
    nic.mkdir(parents=True)
    (nic / "address").write_text("52:54:00:AB:CD:EF\n")
    settings = load_settings(
        ["--hardware-root", str(tmp_path / "root")], environ={}, cmdline_path=cmdline
    )
    assert settings.worker_id == "52:54:00:ab:cd:ef"


def test_missing_or_malformed_settings_are_explained(tmp_path: Path):
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match="no server URL"):
        load_settings(["--token", "rpa_x", "--worker-id", "x"], environ={}, cmdline_path=missing)
    with pytest.raises(ConfigError, match="no agent token"):
        load_settings(["--url", "http://s", "--worker-id", "x"], environ={}, cmdline_path=missing)
    with pytest.raises(ConfigError, match="no worker id"):
        load_settings(
            ["--url", "http://s", "--token", "rpa_x", "--hardware-root", str(tmp_path)],
            environ={},
            cmdline_path=missing,
        )
    with pytest.raises(ConfigError, match=r"\$RACKPILOT_SPOOL_CAP: not a size"):
        load_settings(
            ["--url", "http://s", "--token", "rpa_x", "--worker-id", "x"],
            environ={"RACKPILOT_SPOOL_CAP": "lots"},
            cmdline_path=missing,
        )
    with pytest.raises(ConfigError, match="must start with"):
        load_settings(
            ["--url", "ftp://s", "--token", "rpa_x", "--worker-id", "x"],
            environ={},
            cmdline_path=missing,
        )


def test_websocket_url_follows_the_scheme_and_keeps_a_path_prefix():
    assert websocket_url("http://h:8000") == "ws://h:8000/ws/agent/"
    assert websocket_url("https://h/rackpilot/") == "wss://h/rackpilot/ws/agent/"
    assert websocket_url("wss://h") == "wss://h/ws/agent/"
    with pytest.raises(ConfigError):
        websocket_url("h:8000")


def test_sizes():
    assert parse_size("1048576") == 1 << 20
    assert parse_size("512K") == 512 << 10
    assert parse_size("2g") == 2 << 30
    assert parse_size("64MiB") == 64 << 20
    with pytest.raises(ValueError, match="not a size"):
        parse_size("12 parsecs")


def test_help_names_every_source_of_every_option():
    text = build_parser().format_help()
    for needle in ("RACKPILOT_URL", "rackpilot_url=", "WORKER_ID", "hw_addr=", "DOCKER_HOST"):
        assert needle in text
    assert "--once" in text
    assert "default 256M" in text
