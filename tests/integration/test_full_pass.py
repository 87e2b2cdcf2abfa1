"""One ``--once`` pass over the whole test fleet: every state at once, in one bounded run."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import Fleet, Once
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

EXPECTED = {
    "pi-stale": "supervisor_died",
    "pi-stuck": "supervisor_stale",
    "pi-authfail": "oauth_fail",
    "pi-diskfull": "disk_critical",
    "pi-garbage": "snapshot_invalid",
    "pi-space": "snapshot_invalid",
    "pi-norunner": "runner_missing",
    "pi-unreachable": "remote_blip",
    "pi-hung": "remote_blip",
    "pi-rekeyed": "host_key_changed",
}
FIELDS = {"schema", "host", "detector", "severity", "message", "context", "hint", "ts", "state", "muted"}


def test_one_pass_over_the_whole_inventory_reports_every_host_state_within_one_deadline(
    once: Once, fleet: Fleet, diskfull: Project
) -> None:
    result = once(extra=("--timeout", "3"))  # no --host: every inventory host
    print(f"\none --once pass over {len(fleet.hosts)} hosts: {result.seconds:.2f} s")
    for alert in result.alerts:
        assert set(alert) == FIELDS, alert
        assert alert["severity"] in {"info", "warning", "critical"}, alert
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", alert["ts"]), alert
        assert alert["state"] == "firing", alert
    for host, detector in EXPECTED.items():
        assert detector in result.firing(host), f"{host}: no {detector}\n{result}"
    assert result.firing("pi-healthy") == {}, result
    assert {a["host"] for a in result.alerts} <= set(fleet.hosts)
    assert result.seconds < 3 + 6, result
    assert result.code == 2, result
