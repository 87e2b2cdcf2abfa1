"""The detectors over history, on synthetic series: pass samples, spend and ``now``."""

from __future__ import annotations

from dataclasses import replace

from fleetwatch.detect import detect
from fleetwatch.findings import Finding, Observation, Severity
from fleetwatch.history.model import HostHistory, Spend, Trend
from fleetwatch.settings import Thresholds
from tests.unit.builders import NOW, event, facts, observed, peek, round_events, snapshot

NO_SPEND = Spend(0.0, 0.0, None, 0, None)


def disk_series(per_hour: float, hours: float = 3.0, n: int = 181) -> HostHistory:
    """The store's summary of ``hours`` of samples growing ``per_hour`` % an hour."""
    return HostHistory(NO_SPEND, disk=Trend(n, NOW - hours * 3600, NOW, per_hour / 3600))


def found(obs: Observation, name: str, thresholds: Thresholds | None = None) -> Finding | None:
    findings, evaluated, _ = detect(obs, thresholds or Thresholds(), NOW)
    assert name in evaluated
    return next((f for f in findings if f.detector == name), None)


def with_disk(h: HostHistory, pct: float) -> Observation:
    return replace(observed(snapshot(peek(), f=facts(disk=pct))), history=h)


def test_disk_fill_eta_warns_then_turns_critical_as_the_disk_fills_faster() -> None:
    slow = found(with_disk(disk_series(2.0), 66.0), "disk_fill_eta")  # 34 % at 2 %/h: 17 h
    assert slow is not None and slow.severity is Severity.WARNING and "full in 17.0 h" in slow.message
    fast = found(with_disk(disk_series(8.0), 94.0), "disk_fill_eta")  # 6 % at 8 %/h: 45 min
    assert fast is not None and fast.severity is Severity.CRITICAL and "8.00 %/h" in fast.message
    assert fast.context["full_at"].startswith("2027-01-15T08:")


def test_disk_fill_eta_is_quiet_when_flat_shrinking_far_off_or_already_critical() -> None:
    assert found(with_disk(disk_series(0.0), 50.0), "disk_fill_eta") is None
    assert found(with_disk(disk_series(-3.0), 51.0), "disk_fill_eta") is None
    assert found(with_disk(disk_series(0.5), 11.5), "disk_fill_eta") is None  # 177 h away
    assert found(with_disk(disk_series(8.0), 96.0), "disk_fill_eta") is None  # disk_critical says it
    short = disk_series(8.0, hours=3 / 60, n=3)  # three minutes are no trend
    assert found(with_disk(short, 61.0), "disk_fill_eta") is None


def spend(today: float, last_hour: float = 0.0, usual: float | None = None) -> Observation:
    s = Spend(today, last_hour, usual, 12, NOW - 60, NOW - 1800)
    return replace(observed(snapshot(peek())), history=HostHistory(s))


def test_spend_budget_warns_at_90_percent_and_is_critical_at_100() -> None:
    budget = Thresholds(spend_budget_usd=20.0)
    assert found(spend(17.9), "spend_budget", budget) is None
    warn = found(spend(18.0, 2.5), "spend_budget", budget)
    assert warn is not None and warn.severity is Severity.WARNING
    assert warn.message.startswith("spent $18.00 of $20.00 today (90%); burning $2.50/h")
    crit = found(spend(20.0), "spend_budget", budget)
    assert crit is not None and crit.severity is Severity.CRITICAL
    assert found(spend(500.0), "spend_budget") is None  # no budget set


def test_spend_rate_catches_a_runaway_agent_against_its_own_usual_rate() -> None:
    runaway = found(spend(8.0, 6.0, usual=0.5), "spend_rate")
    assert runaway is not None and runaway.severity is Severity.WARNING
    assert runaway.message == "spent $6.00 in the last hour since 2027-01-15 07:30:00Z: 12× its usual $0.50/h"
    assert found(spend(8.0, 2.0, usual=0.5), "spend_rate") is None  # 4×: busy, not runaway
    assert found(spend(1.0, 0.6, usual=0.01), "spend_rate") is None  # under spend_rate_min_usd
    assert found(spend(8.0, 6.0, usual=None), "spend_rate") is None  # no usual rate yet


def test_no_progress_when_serve_runs_rounds_that_never_complete() -> None:
    budget = 600.0  # peek's round budget: the limit is 3 × 10 min
    started = round_events(2, NOW - 5000, duration=30)  # the last round ended ~80 min ago
    active = HostHistory(NO_SPEND, active_since=NOW - 40 * 60)
    obs = replace(observed(snapshot(peek(started, budget=budget))), history=active)
    stuck = found(obs, "no_progress")
    assert stuck is not None and stuck.message.startswith("serve has run 30 min without completing a round")
    recent = round_events(1, NOW - 200, duration=30)
    assert found(replace(obs, snapshot=snapshot(peek(recent, budget=budget))), "no_progress") is None
    restarted = HostHistory(NO_SPEND, active_since=NOW - 20 * 60)  # serve was down 20 minutes ago
    assert found(replace(obs, history=restarted), "no_progress") is None
    idle = HostHistory(NO_SPEND, active_since=None)  # the latest sample does not show serve running
    assert found(replace(obs, history=idle), "no_progress") is None
    stopped = snapshot(peek(started, budget=budget, active=False))
    assert found(replace(obs, snapshot=stopped), "no_progress") is None


def test_flapping_is_one_alert_for_a_host_that_keeps_coming_and_going() -> None:
    up_down = HostHistory(NO_SPEND, polls_last_hour=60, returns_last_hour=6)
    obs = replace(observed(snapshot(peek())), history=up_down)
    flap = found(obs, "flapping")
    assert flap is not None and flap.message.startswith("went unreachable and back 6 times in the last hour")
    assert found(obs, "flapping", Thresholds(flapping_per_hour=6)) is None
    steady = HostHistory(NO_SPEND, polls_last_hour=60, returns_last_hour=0)
    assert found(replace(obs, history=steady), "flapping") is None


def test_without_history_the_history_detectors_say_nothing() -> None:
    obs = observed(snapshot(peek([event("round_start", NOW - 10, round_num=1)])))
    findings, _, _ = detect(obs, Thresholds(spend_budget_usd=1.0), NOW)
    assert not {f.detector for f in findings} & {
        "disk_fill_eta",
        "spend_budget",
        "spend_rate",
        "no_progress",
        "flapping",
    }


def test_a_group_or_fleet_budget_shared_by_several_hosts_is_judged_on_what_they_spent_together() -> None:
    from fleetwatch.history.model import SharedSpend

    mine = spend(4.0, 1.0)
    assert mine.history is not None
    gpu = replace(mine, history=replace(mine.history, shared=(SharedSpend("group gpu", 21.0, 20.0),)))
    crit = found(gpu, "spend_budget", Thresholds(spend_budget_usd=50.0))  # its own budget is far off
    assert crit is not None and crit.severity is Severity.CRITICAL
    assert crit.message.startswith("group gpu spent $21.00 of $20.00 today (105%; this host $4.00)")
    assert crit.context["budget_scope"] == "group gpu"
    fleet = replace(mine, history=replace(mine.history, shared=(SharedSpend("fleet", 46.0, 50.0),)))
    warn = found(fleet, "spend_budget")
    assert warn is not None and warn.severity is Severity.WARNING and warn.message.startswith("fleet spent")
    calm = replace(mine, history=replace(mine.history, shared=(SharedSpend("fleet", 10.0, 50.0),)))
    assert found(calm, "spend_budget") is None
