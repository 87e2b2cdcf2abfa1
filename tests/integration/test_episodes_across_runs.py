"""Alerts are episodes stored in the state dir: they survive between ``--once`` runs and resolve."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import HEALTHY_CONFIG, Fleet, Once, Remote, Result, inventory_yaml
from tests.integration.projects import AGENT_RUNNER

pytestmark = pytest.mark.integration


def test_second_run_with_the_same_state_dir_reports_the_same_open_alerts(once: Once, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = once("pi-stale", "pi-authfail", state_dir=state)
    second = once("pi-stale", "pi-authfail", state_dir=state)

    def episodes(result: Result) -> set[tuple[str, str, str]]:
        return {(a["host"], a["detector"], a["ts"]) for a in result.alerts if a["state"] == "firing"}

    assert {("pi-stale", "supervisor_died"), ("pi-authfail", "oauth_fail")} <= {
        (h, d) for h, d, _ in episodes(first)
    }, first
    # Same episodes, same start times: the second run continued them rather than opening new ones.
    assert episodes(second) == episodes(first), f"{first}\n{second}"
    assert [a for a in second.alerts if a["state"] == "resolved"] == [], second
    assert second.code == first.code == 2


def test_fixed_condition_is_reported_resolved_on_the_next_run(
    once: Once, fleet: Fleet, remote: Remote, tmp_path: Path
) -> None:
    where = f"fixable-{uuid.uuid4().hex[:8]}"
    inventory = tmp_path / "fixable.yaml"
    inventory.write_text(
        inventory_yaml({"pi-fixable": {"runner": f"~/{where}/agent-runner", "config": HEALTHY_CONFIG}})
    )
    state = tmp_path / "state"
    install = remote.fleet.home / where
    try:
        broken = once("pi-fixable", state_dir=state, inventory=inventory)
        assert "runner_missing" in broken.firing("pi-fixable"), broken

        install.mkdir()
        (install / "agent-runner").symlink_to(AGENT_RUNNER)  # someone installs it where the inventory says
        fixed = once("pi-fixable", state_dir=state, inventory=inventory)
    finally:
        shutil.rmtree(install, ignore_errors=True)

    resolved = fixed.resolved("pi-fixable").get("runner_missing")
    assert resolved is not None, fixed
    assert resolved["message"] == broken.firing("pi-fixable")["runner_missing"]["message"]
    assert fixed.firing("pi-fixable") == {}, fixed
    assert fixed.code == 0, fixed
