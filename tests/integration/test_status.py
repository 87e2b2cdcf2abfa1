"""``fleetwatch status`` and ``silences`` read a state store filled by real passes, and never touch a host."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Fleet, Result, run_cli
from tests.integration.sshd import SilentListener
from tests.integration.test_check_cron import check

pytestmark = pytest.mark.integration

POLLED = ("pi-healthy", "pi-authfail", "pi-norunner", "pi-unreachable")


def blind_client(fleet: Fleet, tmp_path: Path, listener: SilentListener) -> tuple[Path, Path, dict[str, str]]:
    """An ssh_config sending every alias to a listener that counts connections, and a PATH whose `ssh`
    only records that it was run: `status` must use neither."""
    config = tmp_path / "ssh_config.blind"
    config.write_text(
        re.sub(r"(?m)^    Port \d+$", f"    Port {listener.port}", fleet.ssh_config.read_text())
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "ssh-calls"
    fake = bin_dir / "ssh"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 255\n')
    fake.chmod(0o755)
    return config, calls, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def status(fleet: Fleet, state: Path, config: Path, env: dict[str, str], *extra: str) -> Result:
    argv = [
        "status",
        "--ssh-config",
        str(config),
        "--inventory",
        str(fleet.inventory),
        "--state-dir",
        str(state),
    ]
    return run_cli(*argv, *extra, env=env)


def test_status_shows_every_host_from_real_passes_without_a_single_connection(
    fleet: Fleet, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = check(fleet, state, *POLLED)
    assert first.code == 2, first
    assert (
        run_cli(
            "ack", "pi-authfail:oauth_fail", "--reason", "re-login Monday", "--state-dir", str(state)
        ).code
        == 0
    )
    assert run_cli("silence", "pi-unreachable", "--for", "2h", "--state-dir", str(state)).code == 0
    listener = SilentListener().start()
    try:
        config, calls, env = blind_client(fleet, tmp_path, listener)
        result = status(fleet, state, config, env, "--json")
        text = status(fleet, state, config, env)
        assert listener.accepted == 0
    finally:
        listener.close()
    assert not calls.exists(), calls.read_text()
    doc = json.loads(result.stdout)
    rows = {h["host"]: h for h in doc["hosts"]}
    assert list(rows) == list(fleet.hosts)  # every inventory host, polled or not, in order
    assert rows["pi-healthy"]["state"] == "OK" and rows["pi-healthy"]["current"]
    assert (
        rows["pi-healthy"]["facts"]["round"] is not None and rows["pi-healthy"]["facts"]["disk_used_pct"] > 0
    )
    assert rows["pi-healthy"]["last_failure"] is None and rows["pi-healthy"]["latency_s"] > 0
    authfail = rows["pi-authfail"]
    assert authfail["state"] == "CRIT" and authfail["alerts"][0]["detector"] == "oauth_fail"
    assert authfail["alerts"][0]["muted"] == "ACK by " + authfail["alerts"][0]["muted"].split("by ", 1)[1]
    assert "re-login Monday" in authfail["alerts"][0]["muted"]
    unreachable = rows["pi-unreachable"]
    assert unreachable["state"] == "UNREACHABLE" and unreachable["last_ok"] is None
    assert unreachable["last_failure"]["stage"] == "connect" and unreachable["failing_since"] is not None
    assert rows["pi-norunner"]["state"] == "CRIT"
    assert rows["pi-stale"]["state"] == "NEVER POLLED" and rows["pi-stale"]["facts"] is None
    assert doc["schema"] == 2 and doc["status"] == "CRITICAL" and result.code == 2
    assert [s["kind"] for s in doc["silences"]] == ["ack", "silence"]
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{len(rows)} hosts: 1 OK, 2 CRIT, 1 UNREACHABLE, ") and lines[0].endswith(
        "CRITICAL"
    )
    healthy = next(ln for ln in lines if ln.startswith("pi-healthy "))
    assert re.search(r"pi-healthy\s+OK\s+\d+ s ago\s+-\s+\d+%", healthy), text
    assert any("oauth_fail*" in ln for ln in lines) and "Silences and acks:" in lines


def test_silences_lists_who_why_and_until_without_polling(fleet: Fleet, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    where = ("--ssh-config", str(fleet.ssh_config), "--state-dir", state)
    assert run_cli("silence", "pi*:disk_warning", "--for", "90m", "--reason", "resizing", *where).code == 0
    result = run_cli("silences", "--json", "--state-dir", state)
    doc = json.loads(result.stdout)
    [record] = doc["silences"]
    assert doc["schema"] == 2
    assert (record["kind"], record["target"], record["reason"]) == ("silence", "pi*:disk_warning", "resizing")
    assert record["created_by"] and 5390 < record["remaining_s"] <= 5400 and record["until"].endswith("Z")
    text = run_cli("silences", "--state-dir", state).stdout
    assert (
        text.startswith("#1 silenced pi*:disk_warning for 90 min more — resizing (by ")
        and "(until 20" in text
    )


def test_status_long_after_the_last_pass_is_stale_and_unknown(fleet: Fleet, tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert check(fleet, state, "pi-healthy").code == 0
    time.sleep(3.5)  # three times the 1 s interval given below: the poll no longer stands for now
    result = run_cli(
        "status",
        "--json",
        "--interval",
        "1s",
        "--ssh-config",
        str(fleet.ssh_config),
        "--inventory",
        str(fleet.inventory),
        "--host",
        "pi-healthy",
        "--state-dir",
        str(state),
    )
    [row] = json.loads(result.stdout)["hosts"]
    assert row["state"] == "UNKNOWN" and row["stale"] and row["why"].startswith("stale: last polled")
    assert result.code == 3, result
