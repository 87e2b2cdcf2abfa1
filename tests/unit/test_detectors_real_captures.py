"""Detectors over real agent-runner 0.3.14 peek captures (tests/fixtures/agent_runner)."""

from __future__ import annotations

from pathlib import Path

from fleetwatch.detect import detect
from fleetwatch.findings import Finding, Severity
from fleetwatch.probe.parse import parse_peek
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Peek
from tests.unit.builders import facts, observed, snapshot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "agent_runner"
LOGIN = "Invalid API key · Please run /login"


def load(name: str) -> Peek:
    peek, problem = parse_peek((FIXTURES / name).read_text(), "", 0)
    assert peek is not None, problem
    return peek


def run(name: str, after_s: float, logs: dict[int, str] | None = None) -> dict[str, Finding]:
    """Detect on a capture as seen ``after_s`` seconds after its newest event."""
    p = load(name)
    now = (p.events[-1].ts if p.events else 1_800_000_000.0) + after_s
    findings, _, _ = detect(
        observed(snapshot(p, f=facts(time=now), logs=logs, received_at=now), at=now), Thresholds(), now
    )
    return {f.detector: f for f in findings}


def test_crash_loop_breaker_is_critical_and_not_also_reported_stale() -> None:
    got = run("peek_crash_loop.json", 3600)
    assert got["crash_loop"].severity is Severity.CRITICAL
    assert "5 consecutive short crashes" in got["crash_loop"].message
    assert "supervisor_stale" not in got


def test_crash_loop_with_empty_reason_shows_the_crashed_rounds_log_tails() -> None:
    logs = {rn: f"starting\n{LOGIN}" for rn in range(1, 6)}
    got = run("peek_auth_fail_crash_loop.json", 60, logs)
    assert got["crash_loop"].message.endswith(LOGIN)
    assert set(got["crash_loop"].context["log_tails"]) == {"1", "2", "3", "4", "5"}
    assert got["oauth_fail"].severity is Severity.CRITICAL


def test_config_broken_says_which_smoke_check_failed() -> None:
    got = run("peek_config_broken.json", 60)
    assert "'claude' not found on PATH" in got["config_broken"].message


def test_stalled_no_progress_breaker_is_reported() -> None:
    assert "stalled_no_progress" in run("peek_stalled_no_progress.json", 60)


def test_finishing_max_rounds_is_info_not_stale() -> None:
    got = run("peek_healthy_max_rounds_done.json", 86400)
    assert got["supervisor_finished"].severity is Severity.INFO
    assert "supervisor_stale" not in got


def test_killed_supervisor_is_reported_dead_at_once_not_merely_stale() -> None:
    got = run("peek_sigkill_stale.json", 1.0)
    assert got["supervisor_died"].severity is Severity.CRITICAL
    assert "crashed or was killed" in got["supervisor_died"].message
    assert "supervisor_stale" not in run("peek_sigkill_stale.json", 86400)


def test_cleanly_stopped_supervisor_goes_stale_after_one_and_a_half_budgets() -> None:
    budget = load("peek_stopped_by_stop.json").round_budget_s
    assert budget is not None
    assert "supervisor_stale" not in run("peek_stopped_by_stop.json", budget * 1.4)
    stale = run("peek_stopped_by_stop.json", budget * 1.6)["supervisor_stale"]
    assert "stopped cleanly" in stale.message
    assert "supervisor_died" not in run("peek_stopped_by_stop.json", budget * 1.6)


def test_never_started_project_raises_nothing() -> None:
    assert run("peek_never_started.json", 86400) == {}


def test_rate_limited_supervisor_in_back_off_is_reported_until_the_reset() -> None:
    p = load("peek_rate_limited_backoff.json")
    reset = p.service["rate_limit"]["throttled_until_epoch"]
    newest = p.events[-1].ts
    assert "rate_limit_active" in run("peek_rate_limited_backoff.json", min(5.0, reset - newest - 1))
    assert "rate_limit_active" not in run("peek_rate_limited_backoff.json", reset - newest + 1)


def test_network_blip_events_count_as_network_failures() -> None:
    got = run("peek_network_fail_crash_loop.json", 10)
    assert got["network_fail"].severity is Severity.WARNING
    assert got["crash_loop"].severity is Severity.CRITICAL
