"""Never quiet when blind: an offline watcher, a dead jump host, a pass that runs out of time, a closed pipe,
SIGTERM.  Real sshd on loopback; every case ends with a clear first line and a non-OK exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import HEALTHY_CONFIG, REPO, Fleet, Result, inventory_yaml, run_cli
from tests.integration.sshd import host_block
from tests.integration.test_check_cron import check_args

pytestmark = pytest.mark.integration


def jump_fleet(fleet: Fleet, tmp_path: Path) -> tuple[Path, Path]:
    """Hosts behind a jump host that refuses connections, and one behind a jump host that works."""
    key, known = fleet.remote.client_key, fleet.known_hosts
    up = fleet.remote.fleet.port
    blocks = [
        host_block("bastion-down", fleet.refused_port, key, known),
        host_block("bastion-up", up, key, known),
        host_block("pi-behind-1", up, key, known, ProxyJump="bastion-down"),
        host_block("pi-behind-2", up, key, known, ProxyJump="bastion-down"),
        host_block("pi-behind-3", up, key, known, ProxyJump="bastion-down"),
        host_block("pi-via-up", up, key, known, ProxyJump="bastion-up"),
    ]
    config = tmp_path / "ssh_config"
    config.write_text("\n".join(blocks))
    hosts = {
        a: {"config": HEALTHY_CONFIG} for a in ("pi-behind-1", "pi-behind-2", "pi-behind-3", "pi-via-up")
    }
    inventory = tmp_path / "jump.yaml"
    inventory.write_text(inventory_yaml(hosts))
    return config, inventory


def once(config: Path, inventory: Path, state: Path, *hosts: str) -> Result:
    argv = ["--ssh-config", str(config), "--inventory", str(inventory), "--state-dir", str(state), "--once"]
    for h in hosts:
        argv += ["--host", h]
    return run_cli(*argv, "--json")


def test_a_dead_jump_host_is_one_alert_naming_it_not_one_per_host_behind_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    config, inventory = jump_fleet(fleet, tmp_path)
    behind = once(config, inventory, tmp_path / "state", "pi-behind-1", "pi-behind-2", "pi-behind-3")
    [alert] = behind.alerts
    assert (alert["host"], alert["detector"]) == ("bastion-down", "jump_host_down"), behind
    assert "3 hosts behind it not polled" in alert["message"] and "connection refused" in alert["message"]
    assert alert["context"]["hosts"] == ["pi-behind-1", "pi-behind-2", "pi-behind-3"]
    assert behind.code == 3, "nothing selected was seen: UNKNOWN"
    # A host behind a working jump host is polled through it; the dead one is still reported once.
    mixed = once(config, inventory, tmp_path / "mixed", "pi-via-up", "pi-behind-1")
    assert [(a["host"], a["detector"]) for a in mixed.alerts] == [("bastion-down", "jump_host_down")], mixed
    assert mixed.code == 1, "one host seen and fine, one jump host down: a warning"
    status = run_cli(
        "status",
        "--json",
        "--ssh-config",
        str(config),
        "--inventory",
        str(inventory),
        "--state-dir",
        str(tmp_path / "mixed"),
        "--host",
        "pi-via-up",
        "--host",
        "pi-behind-1",
    )
    rows = {h["host"]: h for h in json.loads(status.stdout)["hosts"]}
    assert rows["pi-via-up"]["state"] == "OK" and rows["pi-behind-1"]["state"] == "UNREACHABLE", status
    assert "via jump host bastion-down" in rows["pi-behind-1"]["why"]


def offline_fleet(fleet: Fleet, tmp_path: Path) -> tuple[Path, Path]:
    """Four aliases nobody answers on: as if this machine had lost its network."""
    key, known = fleet.remote.client_key, fleet.known_hosts
    blocks = [host_block(f"pi-dark-{i}", fleet.refused_port, key, known) for i in range(4)]
    config = tmp_path / "dark_config"
    config.write_text("\n".join(blocks))
    inventory = tmp_path / "dark.yaml"
    inventory.write_text(inventory_yaml({f"pi-dark-{i}": {} for i in range(4)}))
    return config, inventory


def test_a_whole_fleet_unreachable_says_the_watcher_is_offline_and_exits_unknown(
    fleet: Fleet, tmp_path: Path
) -> None:
    config, inventory = offline_fleet(fleet, tmp_path)
    text = run_cli(
        "--ssh-config",
        str(config),
        "--inventory",
        str(inventory),
        "--state-dir",
        str(tmp_path / "s"),
        "--once",
    )
    first = text.stdout.splitlines()[0]
    assert " [WARN] fleetwatch watcher_offline — 4 of 4 hosts unreachable in one pass" in first, text
    assert "first: connect failed: connection refused" in first and text.code == 3, text
    result = run_cli(*check_args_for(config, inventory, tmp_path / "c"))
    line = result.stdout.splitlines()[0]
    assert line.startswith(
        "FLEETWATCH UNKNOWN - 0 critical, 0 warning, 4 unreachable, 0 unknown, 0 ok of 4 hosts"
    )
    assert "; this watcher seems offline |" in line and result.code == 3, result


def check_args_for(config: Path, inventory: Path, state: Path, *extra: str) -> list[str]:
    return [
        "check",
        "--ssh-config",
        str(config),
        "--inventory",
        str(inventory),
        "--state-dir",
        str(state),
        *extra,
    ]


def test_watch_mode_started_offline_says_so_at_once_and_sigterm_ends_it_cleanly(
    fleet: Fleet, tmp_path: Path
) -> None:
    config, inventory = offline_fleet(fleet, tmp_path)
    argv = [
        "--ssh-config",
        str(config),
        "--inventory",
        str(inventory),
        "--state-dir",
        str(tmp_path / "w"),
        "--interval",
        "2",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetwatch", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "fleetwatch watcher_offline" in first, first
        time.sleep(2.5)  # at least one more pass: its line goes to stderr
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("fleetwatch: watching 4 hosts every 2 s; state in ")
    assert any(
        " pass 1: 0 ok, 0 warn, 0 crit, 4 unreachable, this watcher seems offline in " in ln for ln in lines
    ), err


def test_a_pass_that_runs_out_of_time_is_unknown_and_names_the_pending_hosts(
    fleet: Fleet, tmp_path: Path
) -> None:
    argv = check_args(
        fleet, tmp_path / "state", "pi-hung", "pi-healthy", extra=("--deadline", "2", "--timeout", "20")
    )
    result = run_cli(*argv)
    line = result.stdout.splitlines()[0]
    assert result.seconds < 10, result
    assert (
        line.startswith("FLEETWATCH UNKNOWN - ") and "; pass deadline reached, 1 pending: pi-hung |" in line
    ), result
    assert "'hosts_pending'=1;0;;0;2" in line and result.code == 3
    status = json.loads(
        run_cli(
            *check_args(
                fleet, tmp_path / "state", "pi-hung", "pi-healthy", extra=("--deadline", "2", "--json")
            )
        ).stdout
    )
    assert status["perfdata"]["hosts_pending"] == 1


def test_a_closed_pipe_ends_check_without_a_traceback_and_with_its_status(
    fleet: Fleet, tmp_path: Path
) -> None:
    argv = " ".join(check_args(fleet, tmp_path / "state", "pi-authfail", "pi-norunner"))
    # `true` exits without reading: the pass ends long after, so every write meets a closed pipe.
    script = (
        f'{sys.executable} -m fleetwatch {argv} 2>{tmp_path / "err"} | true; echo "status=${{PIPESTATUS[0]}}"'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "status=2\n", done
    assert "Traceback" not in (tmp_path / "err").read_text()
