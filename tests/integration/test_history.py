"""History over real passes: a real ``agent-runner serve`` runs rounds whose fake claude reports its cost;
``history`` and ``report`` show the rounds and the spend it reported, each round counted once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fleetwatch.snapshot import parse_ts
from tests.integration.conftest import Fleet, run_cli
from tests.integration.test_check_cron import check

pytestmark = pytest.mark.integration

COST_PER_ROUND = 0.0012
"""What tests/integration/fakes/ok/claude prints as total_cost_usd, recorded by agent-runner per round."""


def test_history_and_report_show_the_rounds_and_spend_the_agent_reported(
    fleet: Fleet, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    project = fleet.remote.projects["healthy"]
    for _ in range(4):  # a pass every ~3 s while serve completes a round every ~2 s
        assert check(fleet, state, "pi-healthy").code == 0
        time.sleep(3)
    history = json.loads(
        run_cli("history", "pi-healthy", "--json", "--since", "1h", "--state-dir", str(state)).stdout
    )
    assert history["schema"] == 2 and history["host"] == "pi-healthy"
    assert len(history["metrics"]["disk_used_pct"]["points"]) == 4  # one sample per pass
    assert all(v == 1 for _, v in history["metrics"]["reachable"]["points"])
    durations = history["metrics"]["round_duration_s"]["points"]
    spend = sum(v for _, v in history["metrics"]["spend_usd"]["points"])

    report = json.loads(
        run_cli(
            "report",
            "--json",
            "--since",
            "1h",
            "--ssh-config",
            str(fleet.ssh_config),
            "--inventory",
            str(fleet.inventory),
            "--host",
            "pi-healthy",
            "--state-dir",
            str(state),
        ).stdout
    )
    [row] = report["hosts"]
    rounds = row["rounds"]
    # Each round the agent really recorded, seen in any of the overlapping peeks, counted exactly once.
    recorded = {
        (e["round_num"], parse_ts(e["ts"]))
        for e in project.events()
        if e.get("event") == "agent_usage_recorded"
    }
    seen = [parse_ts(t) or 0.0 for t, _ in durations]
    window = [r for r in recorded if r[1] is not None and min(seen) - 1 <= r[1] <= max(seen) + 1]  # ISO s
    assert rounds >= 4 and rounds == len(durations) == len(window), (rounds, len(window))
    assert row["spend_usd"] == pytest.approx(rounds * COST_PER_ROUND) == pytest.approx(spend)
    assert row["success_rate"] == 1.0 and row["uptime"] == 1.0 and row["polls"] == 4
    text = run_cli(
        "history", "pi-healthy", "--since", "1h", "--metric", "disk,spend,rounds", "--state-dir", str(state)
    )
    first = text.stdout.splitlines()
    assert first[0].startswith("pi-healthy — ") and any(
        ln.lstrip().startswith("spend_usd") and "total" in ln for ln in first
    )
