"""The stop edge's pure parts: the argv, the quoted line the host runs, and reading serve's state."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

from fleetwatch.actions.stop import Service, service_state, stop_argv, stop_command, where_of
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host, SshTarget
from fleetwatch.settings import HostSettings
from fleetwatch.snapshot import Snapshot
from tests.unit.builders import NOW, event, peek, round_events, snapshot


def host(runner: str | None = None, config: str | None = None, jump: str | None = None) -> Host:
    """A host at pi@10.0.0.3:2222."""
    target = SshTarget("pi3", "10.0.0.3", "pi", 2222, proxy_jump=jump)
    return Host("pi3", target, settings=HostSettings(runner=runner, config=config))


def test_the_runner_the_probe_found_wins_then_the_inventory_then_path() -> None:
    found = snapshot(runner="/home/pi/.local/bin/agent-runner")
    assert stop_argv(host("~/venv/bin/agent-runner"), found) == ("/home/pi/.local/bin/agent-runner", "stop")
    assert stop_argv(host("~/venv/bin/agent-runner"), None) == ("~/venv/bin/agent-runner", "stop")
    assert stop_argv(host(), snapshot(runner=None)) == ("agent-runner", "stop")
    assert stop_argv(host(config="~/proj/agent-runner.toml"), None) == (
        "agent-runner",
        "--config",
        "~/proj/agent-runner.toml",
        "stop",
    )


def test_where_names_user_host_port_and_the_jump() -> None:
    assert where_of(host().target) == "pi@10.0.0.3:2222"
    assert where_of(host(jump="bastion").target) == "pi@10.0.0.3:2222 via bastion"


def _fake_runner(home: Path) -> Path:
    runner = home / "bin" / "agent-runner"
    runner.parent.mkdir(parents=True)
    runner.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    runner.chmod(0o755)
    return runner


def test_the_line_sent_is_one_quoted_argv_and_the_host_expands_tilde(tmp_path: Path) -> None:
    _fake_runner(tmp_path)
    nasty = "~/my proj; $(touch pwned) 'x'/agent-runner.toml"
    argv = stop_argv(host("~/bin/agent-runner", nasty), None)
    line = stop_command(argv)
    assert shlex.split(line)[:2] == ["sh", "-c"]
    # The host's login shell (bash here) runs the line: no word of ours is ever re-parsed.
    out = subprocess.run(
        ["bash", "-c", line],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "--config",
        f"{tmp_path}/my proj; $(touch pwned) 'x'/agent-runner.toml",
        "stop",
    ]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_missing_runner_fails_with_the_hosts_own_words(tmp_path: Path) -> None:
    line = stop_command(stop_argv(host("~/nowhere/agent-runner"), None))
    out = subprocess.run(
        ["sh", "-c", line],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 127
    assert f"agent-runner not found at {tmp_path}/nowhere/agent-runner" in out.stderr


def served(**service: object) -> Snapshot:
    """A snapshot whose peek has this ``service`` block."""
    return snapshot(replace(peek(), service=service))


def test_serve_state_is_read_from_the_peek_service_block() -> None:
    assert service_state(served(mode="none", active=False, pid=None))[0] is Service.GONE
    stale = served(mode="pid_file", active=False, pid=None)
    assert service_state(stale) == (Service.GONE, "peek shows serve gone (stale serve.pid)")
    limited = served(
        mode="pid_file", active=True, pid=4242, rate_limit={"throttled_until_epoch": 1_800_000_030}
    )
    state, words = service_state(limited)
    assert state is Service.RUNNING
    assert (
        words
        == "serve (pid 4242, pid_file) is still running, in a rate-limit back-off until 2027-01-15 08:00:30Z"
    )


def test_a_running_serve_says_what_it_is_busy_with_from_its_newest_events() -> None:
    backoff = [
        *round_events(1, NOW - 20, exit_code=1, duration=1),
        event("transient_error_detected", NOW - 15),
    ]
    p = replace(peek(backoff), service={"mode": "pid_file", "active": True, "pid": 7})
    assert (
        service_state(snapshot(p))[1]
        == "serve (pid 7, pid_file) is still running, sleeping out a rate-limit back-off"
    )
    midround = [*round_events(2, NOW - 100), event("round_start", NOW - 5, round_num=3)]
    p = replace(peek(midround), service={"mode": "pid_file", "active": True, "pid": 7})
    assert service_state(snapshot(p))[1].endswith("still running, finishing round 3")
    between = round_events(2, NOW - 100)
    p = replace(peek(between), service={"mode": "pid_file", "active": True, "pid": 7})
    assert service_state(snapshot(p))[1].endswith("still running")


def test_an_unusable_verification_is_unknown_never_stopped() -> None:
    assert service_state(PollFailure(Stage.CONNECT, "connection refused"))[0] is Service.UNKNOWN
    assert service_state(snapshot(None, peek_error="agent-runner peek crashed: boom"))[0] is Service.UNKNOWN
    assert service_state(snapshot(peek(), runner=None))[0] is Service.UNKNOWN
    assert service_state(served())[0] is Service.UNKNOWN
