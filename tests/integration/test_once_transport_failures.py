"""SSH failures, real ones: a refused port, an sshd that never speaks, a host key that changed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import Fleet, Once

pytestmark = pytest.mark.integration


def test_unreachable_host_blips_then_gives_up_once_the_failure_outlasts_the_tolerance(
    once: Once, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = once("pi-unreachable", state_dir=state)
    blip = first.firing("pi-unreachable").get("remote_blip")
    assert blip is not None, first
    assert blip["severity"] == "warning"
    assert blip["message"].startswith("connect failed"), blip
    assert blip["context"]["stage"] == "connect"
    assert first.code == 3, "nothing selected could be seen: UNKNOWN, not a mere warning"

    time.sleep(2.2)  # the inventory gives pi-unreachable remote_failure_tolerance_s: 2
    second = once("pi-unreachable", state_dir=state)
    giveup = second.firing("pi-unreachable").get("remote_giveup")
    assert giveup is not None, second
    assert giveup["severity"] == "critical"
    assert giveup["context"]["tolerance_s"] == 2
    assert giveup["context"]["failing_for_s"] >= 2
    assert "remote_blip" not in second.firing("pi-unreachable"), second
    assert second.code == 2, second


def test_hung_sshd_fails_within_the_deadline_and_never_stalls_the_other_hosts(once: Once) -> None:
    result = once("pi-hung", "pi-authfail", "pi-healthy", extra=("--timeout", "3"))
    blip = result.firing("pi-hung").get("remote_blip")
    assert blip is not None, result
    assert "timed out after 3 s" in blip["message"], blip
    assert "oauth_fail" in result.firing("pi-authfail"), result
    assert result.firing("pi-healthy") == {}, result
    # Hosts run concurrently: the whole run costs one deadline plus start-up, not a deadline per host.
    assert result.seconds < 3 + 4, f"took {result.seconds:.1f} s\n{result}"
    assert result.code == 2, result


def test_changed_host_key_is_refused_reported_critical_and_known_hosts_left_alone(
    once: Once, fleet: Fleet
) -> None:
    before = fleet.rekeyed_known_hosts.read_bytes()
    result = once("pi-rekeyed")
    alert = result.firing("pi-rekeyed").get("host_key_changed")
    assert alert is not None, result
    assert alert["severity"] == "critical"
    assert "CHANGED" in alert["message"], alert
    assert "fleetwatch trust pi-rekeyed" in alert["hint"], alert
    # A refused key is not a reachability problem, and it is never written down.
    assert set(result.firing("pi-rekeyed")) == {"host_key_changed"}, result
    assert fleet.rekeyed_known_hosts.read_bytes() == before
    assert result.code == 2, result
