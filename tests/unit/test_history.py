"""History: samples kept compactly and rolled up, usage counted once per round, spend and reports right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure, Severity
from fleetwatch.history import disk_full_eta, series
from fleetwatch.history.model import HistorySettings, Sample, fill_rate, usage_of
from fleetwatch.history.report import load_report
from fleetwatch.history.store import host_histories, record_samples, record_usage, roll_up
from fleetwatch.probe.parse import parse_peek
from fleetwatch.store import Store
from tests.unit.builders import facts, peek, retained_year, snapshot

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agent_runner"
NOW = 1_800_000_000.0
UTC = HistorySettings(timezone="UTC")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path)


def at(host: str, t: float, disk: float = 40.0, reachable: bool = True) -> Sample:
    if not reachable:
        return Sample.of(host, PollFailure(Stage.CONNECT, "refused", latency_s=0.01), t)
    return Sample.of(host, snapshot(peek(), f=facts(disk=disk, time=t), host=host, received_at=t), t)


def test_a_sample_keeps_every_value_and_reads_back_in_its_units(store: Store) -> None:
    record_samples(store.connection, [at("pi1", NOW, disk=41.27)])
    assert series(store, "pi1", "disk_used_pct", NOW - 60, NOW) == [(NOW, 41.27)]
    assert series(store, "pi1", "load_1m", NOW - 60, NOW) == [(NOW, 0.5)]
    assert series(store, "pi1", "reachable", NOW - 60, NOW) == [(NOW, 1.0)]
    with pytest.raises(KeyError):
        series(store, "pi1", "no_such", NOW - 60, NOW)


def test_samples_roll_up_into_5_minute_then_hourly_buckets_and_expire(store: Store) -> None:
    keep = HistorySettings(raw=6 * 3600, five_minutes=12 * 3600, hourly=48 * 3600, timezone="UTC")
    start = NOW - 60 * 3600  # 60 h of one sample a minute, rolled up every hour as the pass does
    for minute in range(60 * 60):
        t = start + 60 * minute
        up = minute % 10 != 0  # one poll in ten fails
        record_samples(store.connection, [at("pi1", t, disk=10.0 + minute / 100, reachable=up)])
        if minute % 60 == 59:
            roll_up(store.connection, t, keep)
    tiers = dict(store.connection.execute("SELECT res, COUNT(*) FROM samples GROUP BY res").fetchall())
    assert 360 <= tiers[0] <= 420  # the last 6 h raw (plus up to an hour not yet folded)
    assert 72 <= tiers[300] <= 84  # 6 more hours as 5-minute buckets
    assert 35 <= tiers[3600] <= 37  # hourly back to the 48 h keep, older ones dropped
    assert store.connection.execute("SELECT MIN(at) FROM samples").fetchone()[0] >= NOW - 49 * 3600
    hourly = series(store, "pi1", "reachable", NOW - 60 * 3600, NOW - 13.5 * 3600)  # the hourly tier
    assert all(abs(v - 0.9) < 1e-9 for _, v in hourly)  # the share of answered polls survives the folding
    [(t, disk)] = [
        p for p in series(store, "pi1", "disk_used_pct", NOW - 48 * 3600, NOW) if p[0] == hourly[0][0]
    ]
    minutes = [m for m in range(60 * 60) if start + 60 * m >= t and start + 60 * m < t + 3600 and m % 10]
    assert disk == pytest.approx(sum(10.0 + m / 100 for m in minutes) / len(minutes), abs=0.01)


def _peek(events: list[dict[str, object]]) -> object:
    doc = json.loads((FIXTURES / "peek_healthy_running.json").read_text())
    doc["recent_events"] = events
    peek, problem = parse_peek(json.dumps(doc), "", 0)
    assert problem is None
    return peek


def test_usage_is_counted_once_per_round_across_overlapping_real_peeks(store: Store) -> None:
    events = json.loads((FIXTURES / "peek_healthy_running.json").read_text())["recent_events"]
    usage = [e for e in events if e["event"] == "agent_usage_recorded"]
    assert len(usage) == 3 and usage[0]["cost_usd"] == 0.0012  # as agent-runner 0.3.14 really prints it
    first, second = events[:15], events[5:]  # two consecutive peeks sharing most of their events
    new = 0
    for window in (first, second, events, events):
        snap = snapshot(_peek(window), host="pi1")  # type: ignore[arg-type]
        new += record_usage(store.connection, usage_of("pi1", snap), NOW, UTC)
    assert new == 3
    rounds, spent = store.connection.execute("SELECT SUM(rounds), SUM(cost_usd) FROM usage_daily").fetchone()
    assert rounds == 3 and spent == pytest.approx(0.0036)
    assert [
        r["round"] for r in map(dict, store.connection.execute("SELECT round FROM usage ORDER BY round"))
    ] == [1, 2, 3]


def test_a_stopped_runners_last_round_is_counted_once_after_its_record_is_rolled_away(store: Store) -> None:
    last = NOW - 9 * 86400  # the runner stopped 9 days ago; its peek still lists this round
    event = {"ts": last, "event": "agent_usage_recorded", "round_num": 4, "cost_usd": 2.0, "success": True}
    usages = usage_of("pi1", snapshot(_peek([event]), host="pi1"))  # type: ignore[arg-type]
    assert record_usage(store.connection, usages, last + 60, UTC) == 1
    for hour in range(3):  # past the 8 days usage records are kept: the record is rolled away
        roll_up(store.connection, NOW + 3600 * hour, UTC)
        assert record_usage(store.connection, usages, NOW + 3600 * hour, UTC) == 0
    cost, rounds = store.connection.execute("SELECT SUM(cost_usd), SUM(rounds) FROM usage_hourly").fetchone()
    assert (cost, rounds) == (pytest.approx(2.0), 1)


def _usage(store: Store, host: str, rounds: list[tuple[float, float, bool]]) -> None:
    """Record (time, cost, success) rounds as usage events."""
    events = [
        {
            "ts": t,
            "event": "agent_usage_recorded",
            "round_num": i,
            "cost_usd": cost,
            "success": ok,
            "duration_ms": 60_000,
            "agent": "claude",
            "model": "m",
        }
        for i, (t, cost, ok) in enumerate(rounds, 1)
    ]
    record_usage(store.connection, usage_of(host, snapshot(_peek(events), host=host)), NOW, UTC)  # type: ignore[arg-type]


def test_spend_today_last_hour_and_the_usual_hourly_rate(store: Store) -> None:
    day_start = UTC.day_start(NOW)
    week = [(NOW - 86400 * 2 - 3600 * h, 0.10, True) for h in range(48)]  # $0.10 an hour for two days
    burst = [(NOW - 60 * m, 1.0, True) for m in range(1, 6)]  # then $5 in the last five minutes
    yesterday = [(day_start - 600, 7.0, False)]
    _usage(store, "pi1", week + yesterday + burst)
    spend = host_histories(store.connection, {"pi1": 3600.0}, NOW, UTC)["pi1"].spend
    assert spend.last_hour_usd == pytest.approx(5.0) and spend.rounds_today == 5
    assert spend.today_usd == pytest.approx(5.0)  # yesterday's $7 is yesterday's
    assert spend.baseline_usd_per_hour == pytest.approx((48 * 0.10 + 7.0) / 49)
    assert spend.last_hour_since == pytest.approx(NOW - 300)


def test_the_report_has_uptime_rounds_success_spend_and_alert_time(store: Store) -> None:
    conn = store.connection
    since = NOW - 7 * 86400
    record_samples(conn, [at("pi1", NOW - 600 * i, reachable=i % 4 != 0) for i in range(8)])
    _usage(store, "pi1", [(NOW - 3600, 0.5, True), (NOW - 1800, 0.5, False), (NOW - 900, 1.0, True)])
    ep = Episode("pi1", "disk_warning", Severity.WARNING, "m", "h", {}, NOW - 7200, NOW - 7200)
    with store.transaction():
        store.add_transitions(
            [Transition(Change.OPENED, ep, NOW - 7200), Transition(Change.RESOLVED, ep, NOW - 3600)]
        )
    report = load_report(conn, ["pi1", "pi2"], since, NOW)
    pi1, pi2 = report.hosts
    assert (pi1.polls, pi1.answered, pi1.uptime) == (8, 6, 0.75)
    assert (pi1.rounds, pi1.successes, pi1.spend_usd) == (3, 2, pytest.approx(2.0))
    [alert] = pi1.alerts
    assert (alert.detector, alert.opened, alert.open_s) == ("disk_warning", 1, 3600.0)
    assert pi2.uptime is None and pi2.success_rate is None
    assert report.totals.spend_usd == pytest.approx(2.0) and report.totals.rounds == 3


def test_disk_full_eta_extrapolates_the_recent_fill_rate(store: Store) -> None:
    record_samples(store.connection, [at("pi1", NOW - 60 * m, disk=80.0 - m * 0.05) for m in range(120)])
    eta = disk_full_eta(store, "pi1", NOW)
    assert eta is not None and eta == pytest.approx(NOW + 20 / 3.0 * 3600, rel=0.01)  # 3 %/h, 20 % to go
    record_samples(store.connection, [at("pi2", NOW - 60 * m, disk=50.0) for m in range(120)])
    assert disk_full_eta(store, "pi2", NOW) is None


def test_a_year_of_history_per_host_stays_under_its_stated_size(tmp_path: Path) -> None:
    """The steady state of the default retention (48 h raw at 60 s, 14 d of 5-minute, a year of hourly
    buckets) for 4 hosts; docs/history.md states ≤ 0.9 MB per host per year of samples."""
    keep = HistorySettings()
    st = Store.open(tmp_path)
    conn = st.connection
    with st.transaction():
        for h in range(4):
            rows = retained_year(f"pi-{h:03d}", keep, NOW)
            conn.executemany(f"INSERT INTO samples VALUES ({','.join('?' * 16)})", rows)
    conn.execute("VACUUM")
    st.close()
    per_host = (tmp_path / "state.db").stat().st_size / 4
    assert per_host < 0.9e6, f"{per_host / 1e6:.2f} MB per host"


def test_the_recent_history_summary_is_what_the_detectors_need(store: Store) -> None:
    points = [(NOW - 60 * m, 60.0 + (180 - m) * 0.05 + (m % 3) * 0.01) for m in range(180, -1, -1)]
    record_samples(store.connection, [at("pi1", t, disk=v) for t, v in points])
    flaky = [at("pi2", NOW - 60 * m, reachable=m % 10 >= 5) for m in range(59, -1, -1)]  # 5 returns
    record_samples(store.connection, flaky)
    summary = host_histories(store.connection, {"pi1": 3 * 3600.0, "pi2": 3600.0}, NOW, UTC)
    disk = summary["pi1"].disk
    assert disk is not None and disk.n == 181 and disk.span_s == 3 * 3600
    assert disk.slope_per_s == pytest.approx(fill_rate(points), rel=1e-6)
    assert (summary["pi2"].returns_last_hour, summary["pi2"].polls_last_hour) == (5, 60)
    assert summary["pi1"].active_since == NOW - 180 * 60  # serve active in every sample of pi1
    assert summary["pi2"].active_since is None  # its newest poll failed: nothing says serve runs
    assert summary["pi1"].disk_hour_ago == pytest.approx(points[120][1], abs=0.01)  # the sample at NOW - 1 h
    record_samples(store.connection, [at("pi3", NOW - 60 * m, disk=50.0) for m in range(40, -1, -1)])
    young = host_histories(store.connection, {"pi3": 3600.0}, NOW, UTC)["pi3"]
    assert young.disk_hour_ago is None, "40 minutes of history is not an hour ago"


# -- found in review ------------------------------------------------------------------------------------


def test_time_open_counts_from_the_opening_and_a_period_starting_mid_hour_counts_only_its_rounds(
    store: Store,
) -> None:
    conn = store.connection
    # `for: 10m`: first seen at -30 min, opened at -20 min, resolved at -18 min: open 2 minutes, not 12.
    ep = Episode("pi1", "load_high", Severity.WARNING, "m", "h", {}, NOW - 1800, NOW - 1200)
    with store.transaction():
        store.add_transitions(
            [Transition(Change.OPENED, ep, NOW - 1200), Transition(Change.RESOLVED, ep, NOW - 1080)]
        )
    hour = NOW // 3600 * 3600
    _usage(store, "pi1", [(hour - 4800, 5.0, True), (hour - 600, 1.0, True)])  # before and inside the period
    [pi1] = load_report(conn, ["pi1"], hour - 1800, NOW).hosts
    [alert] = pi1.alerts
    assert (alert.opened, alert.open_s) == (1, 120.0)
    assert (pi1.rounds, pi1.spend_usd) == (1, pytest.approx(1.0)), "the round 80 min before is not counted"


def test_a_flat_disk_has_no_full_date_and_short_retention_is_refused() -> None:
    flat = [(1_800_000_000.0 + 20 * i, 41.3) for i in range(50)]
    assert fill_rate(flat) == 0.0  # it came out as 1e-20 %/s: "full in 6.8e21 days"
    with pytest.raises(ValueError, match=r"history\.usage: keep at least 2 d"):
        HistorySettings(usage=3600)
    with pytest.raises(ValueError, match=r"history\.raw: keep at least 6 h"):
        HistorySettings(raw=1, five_minutes=2, hourly=3)


def test_settling_adds_up_a_group_s_and_the_fleet_s_spend_for_their_budgets(store: Store) -> None:
    from fleetwatch.inventory.model import Host, HostSettings, SshTarget
    from fleetwatch.pipeline import settle
    from fleetwatch.settings import Budgets, PassSettings

    _usage(store, "gpu1", [(NOW - 600, 12.0, True)])
    _usage(store, "gpu2", [(NOW - 300, 9.0, True)])
    _usage(store, "other", [(NOW - 300, 30.0, True)])  # not in this run's selection: still the fleet's
    hosts = [Host(a, SshTarget(a, "10.0.0.1", "pi"), ("gpu",), HostSettings()) for a in ("gpu1", "gpu2")]
    settings = PassSettings(history=UTC, budgets=Budgets(fleet=100.0, groups={"gpu": 20.0}))
    results = {h.alias: snapshot(peek([]), host=h.alias) for h in hosts}
    settled = settle(store, hosts, results, NOW, settings)
    gpu1 = next(o for o in settled.observations if o.host == "gpu1")
    assert gpu1.history is not None
    shared = {s.scope: (s.spent_usd, s.budget_usd) for s in gpu1.history.shared}
    assert shared == {"group gpu": (pytest.approx(21.0), 20.0), "fleet": (pytest.approx(51.0), 100.0)}
    assert {f.host for f in settled.findings if f.detector == "spend_budget"} == {"gpu1", "gpu2"}
