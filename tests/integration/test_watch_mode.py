"""Watch mode against the real sshd: alerts print once as they open, connections are kept and reused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, Fleet

pytestmark = pytest.mark.integration


def accepted(log: Path) -> int:
    """SSH logins sshd accepted so far (LogLevel VERBOSE logs one line per authenticated connection)."""
    return log.read_text(errors="replace").count("Accepted publickey")


def test_watch_prints_an_open_alert_once_and_reuses_one_connection_across_passes(
    fleet: Fleet, tmp_path: Path
) -> None:
    log = fleet.remote.fleet.log
    before = accepted(log)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [
        sys.executable,
        "-m",
        "fleetwatch",
        "--ssh-config",
        str(fleet.ssh_config),
        "--inventory",
        str(fleet.inventory),
        "--state-dir",
        str(tmp_path / "state"),
        "--host",
        "pi-authfail",
        "--interval",
        "1",
        "--json",
    ]
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(5.5)  # four or five passes at a 1 s interval
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    alerts = [(a["host"], a["detector"], a["state"]) for a in map(json.loads, out.splitlines())]
    assert ("pi-authfail", "oauth_fail", "firing") in alerts
    assert len(alerts) == len(set(alerts)), f"an open alert was printed again on a later pass: {alerts}"
    assert accepted(log) - before == 1, "watch mode must keep its connection open between passes"
