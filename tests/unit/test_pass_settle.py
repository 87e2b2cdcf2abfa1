"""One pass's bookkeeping (failure clocks, offline and gap handling) over a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from fleetwatch.basics import Duration
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure
from fleetwatch.pipeline import settle
from fleetwatch.settings import PassSettings
from fleetwatch.store import Store
from tests.unit.builders import snapshot

REFUSED = PollFailure(Stage.CONNECT, "connection refused")
SETTINGS = PassSettings(interval=Duration(60))


def detectors(findings: list) -> set[tuple[str, str]]:
    return {(f.host, f.detector) for f in findings}


def test_failures_add_up_to_a_giveup_across_cron_runs(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    results = {"pi1": REFUSED, "pi2": snapshot(None), "pi3": snapshot(None)}
    cron = PassSettings(interval=Duration(300))  # `check` every 5 minutes
    _, first, *_ = settle(store, [], results, 1000.0, cron)
    _, later, *_ = settle(store, [], results, 1000.0 + 300, cron)
    assert ("pi1", "remote_blip") in detectors(first)
    assert ("pi1", "remote_giveup") in detectors(later)


def test_a_laptop_sleep_restarts_failure_clocks_so_the_gap_alone_never_gives_up(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    results = {"pi1": REFUSED, "pi2": snapshot(None), "pi3": snapshot(None)}
    settle(store, [], results, 1000.0, SETTINGS)
    # Eight hours asleep, then the host still fails: that is a fresh blip, not an 8 h give-up.
    _, after_sleep, _, _, vantage, _ = settle(store, [], results, 1000.0 + 8 * 3600, SETTINGS)
    assert vantage.gap_s == 8 * 3600
    assert ("pi1", "remote_blip") in detectors(after_sleep)
    assert ("pi1", "remote_giveup") not in detectors(after_sleep)


def test_an_offline_pass_opens_one_watcher_alert_and_touches_no_host(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    healthy = {f"pi{i}": snapshot(None) for i in range(5)}
    settle(store, [], healthy, 1000.0, SETTINGS)
    offline = {f"pi{i}": REFUSED for i in range(5)}
    _, findings, transitions, _, vantage, _ = settle(store, [], offline, 1060.0, SETTINGS)
    assert vantage.offline
    assert detectors(findings) == {("fleetwatch", "watcher_offline")}
    assert [(t.change, t.episode.host) for t in transitions] == [("opened", "fleetwatch")]
    assert store.failure_clocks() == {}, "an offline pass starts no host's failure clock"
    _, _, back, _, _, _ = settle(store, [], healthy, 1120.0, SETTINGS)
    assert [(t.change, t.episode.detector) for t in back] == [("resolved", "watcher_offline")]
