"""Auto-stop end to end through ``fleetwatch check``: real sshd, real detached serve, real Apprise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Fleet, inventory_yaml, run_cli
from tests.integration.projects import wait_until
from tests.integration.receivers import HttpReceiver
from tests.integration.stop_fixtures import Serve, fleet_target_fixture, serving_fixture  # noqa: F401

pytestmark = pytest.mark.integration


def test_check_dry_run_then_real_auto_stop_of_a_live_supervisor(
    fleet: Fleet, serving: Serve, tmp_path: Path, http: HttpReceiver
) -> None:
    served = serving("cli")
    # A threshold of 1 % makes the real disk "critical": a real detector firing on a really running serve.
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        inventory_yaml(
            {
                "pi-fixable": {
                    "config": served.project.remote_config,
                    "thresholds": {"disk_warning_pct": 1, "disk_critical_pct": 1},
                }
            }
        )
    )
    config = tmp_path / "config.yaml"
    config.write_text("auto_stop_on: [disk_critical]\nauto_stop: {consecutive: 1, max_per_hour: 5}\n")
    state = tmp_path / "state"
    base = [
        "check",
        "--config",
        str(config),
        "--ssh-config",
        str(fleet.ssh_config),
        "--inventory",
        str(inventory),
        "--state-dir",
        str(state),
        "--notify",
        http.url(),
    ]

    dry = run_cli(*base, "--dry-run")
    assert "[STOP] pi-fixable auto-stop for disk_critical: dry-run" in dry.stdout, dry
    assert "stop" in dry.stdout and served.project.remote_config in dry.stdout, "says what it would run"
    assert served.alive, "a dry run changes nothing on the host"
    audit = [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]
    assert audit and all(rec["dry_run"] for rec in audit)

    real = run_cli(*base)
    assert "[STOP] pi-fixable auto-stop for disk_critical: stopped" in real.stdout, real
    wait_until("serve to exit", lambda: not served.alive, timeout_s=30)
    titles = [b["title"] for b in http.accepted]
    assert "[INFO] pi-fixable auto-stop stopped" in titles, titles
    records = [json.loads(line) for line in (state / "audit.log").read_text().splitlines()]
    assert any(r["outcome"] == "stopped" and not r["dry_run"] and "stop" in r["argv"] for r in records), (
        records
    )

    again = run_cli(*base)
    assert "[STOP]" not in again.stdout, "one open episode, one stop"
