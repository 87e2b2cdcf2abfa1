"""The watcher's own trouble is not the fleet's: offline passes and sleep gaps."""

from __future__ import annotations

from fleetwatch.errors import Stage
from fleetwatch.events import GapDetected
from fleetwatch.findings import PollFailure
from fleetwatch.vantage import assess, watcher_finding
from tests.unit.builders import snapshot

REFUSED = PollFailure(Stage.CONNECT, "connection refused")
AUTH = PollFailure(Stage.AUTH, "permission denied")


def test_most_hosts_failing_to_connect_means_the_watcher_is_offline() -> None:
    results = {f"pi{i}": REFUSED for i in range(8)} | {"pi8": snapshot(None), "pi9": snapshot(None)}
    v = assess(results, [], 100.0, 60.0)
    assert v.offline and len(v.unreached) == 8
    finding = watcher_finding(v)
    assert finding is not None and finding.host == "fleetwatch" and "8 of 10 hosts" in finding.message


def test_a_minority_failing_is_the_fleets_problem() -> None:
    results = {"pi1": REFUSED, "pi2": snapshot(None), "pi3": snapshot(None)}
    assert not assess(results, [], 1.0, 60.0).offline


def test_auth_failures_are_not_the_watchers_network() -> None:
    assert not assess({f"pi{i}": AUTH for i in range(5)}, [], 1.0, 60.0).offline


def test_two_dead_pis_in_a_fleet_of_two_are_not_called_offline() -> None:
    assert not assess({"a": REFUSED, "b": REFUSED}, [], 1.0, 60.0).offline


def test_a_pass_long_after_the_previous_one_is_a_gap() -> None:
    assert assess({}, [1000.0], 1100.0, 60.0).gap_s is None
    v = assess({}, [1000.0], 1000.0 + 8 * 3600, 60.0)
    assert v.gap_s == 8 * 3600
    assert v.gap_s is not None and "8.0 h ago" in str(GapDetected(v.gap_s))


def test_the_usual_spacing_is_learned_so_a_slow_cron_is_not_a_gap_every_time() -> None:
    every_30_min = [0.0, 1800.0, 3600.0, 5400.0]
    assert assess({}, every_30_min, 7200.0, 60.0).gap_s is None
    assert assess({}, every_30_min, 5400.0 + 8 * 3600, 60.0).gap_s == 8 * 3600
