"""Detectors are pure: data and ``now`` in, findings out."""

from __future__ import annotations

from fleetwatch.detect import BUILTIN, detect
from fleetwatch.detect.base import Detector, Needs
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, PollFailure, Severity
from fleetwatch.polls import HostFacts
from fleetwatch.settings import Thresholds
from tests.unit.builders import NOW, event, facts, observed, peek, round_events, snapshot

T = Thresholds()
AUTH_TAIL = (
    'API Error: 401 {"type":"error","error":{"type":"authentication_error",'
    '"message":"OAuth token has expired."}}'
)


def fired(obs, thresholds: Thresholds = T, now: float = NOW) -> dict[str, Finding]:
    findings, _, _ = detect(obs, thresholds, now)
    return {f.detector: f for f in findings}


def healthy_events() -> list:
    return round_events(10, NOW - 10 * 35 - 60)


def test_healthy_host_has_no_findings_and_every_detector_was_evaluated() -> None:
    findings, evaluated, _ = detect(observed(snapshot(peek(healthy_events()))), T, NOW)
    assert findings == []
    assert {"oauth_fail", "disk_critical", "supervisor_stale", "remote_giveup", "hung"} <= evaluated


def test_disk_critical_fires_at_95_percent_from_live_facts_not_peeks_frozen_number() -> None:
    p = peek(healthy_events())  # peek's system.disk_used_pct says 10 %
    got = fired(observed(snapshot(p, f=facts(disk=95.0))))
    assert got["disk_critical"].severity is Severity.CRITICAL
    assert "disk_warning" not in got
    assert got["disk_critical"].context["used_pct"] == 95.0


def test_disk_warning_between_90_and_95_percent() -> None:
    got = fired(observed(snapshot(peek(healthy_events()), f=facts(disk=91.2))))
    assert got["disk_warning"].severity is Severity.WARNING
    assert "disk_critical" not in got


def test_disk_thresholds_come_from_host_settings() -> None:
    t = Thresholds(disk_warning_pct=50, disk_critical_pct=60)
    assert "disk_critical" in fired(observed(snapshot(peek(healthy_events()), f=facts(disk=61))), t)


def test_oauth_fail_from_auth_pattern_in_short_exit_log_tails_is_critical() -> None:
    events = round_events(3, NOW - 600) + round_events(3, NOW - 300, exit_code=1, duration=2.0, first=4)
    logs = {4: AUTH_TAIL, 5: AUTH_TAIL, 6: "Invalid API key · Please run /login"}
    got = fired(observed(snapshot(peek(events), logs=logs)))
    assert got["oauth_fail"].severity is Severity.CRITICAL
    assert got["oauth_fail"].context["rounds"] == [4, 5, 6]
    assert "Please run /login" in got["oauth_fail"].message


def test_auth_words_in_a_clean_exit_round_are_not_an_auth_failure() -> None:
    events = round_events(10, NOW - 600)  # exit 0: prose about "401" is just prose
    logs = {rn: AUTH_TAIL for rn in range(1, 11)}
    assert "oauth_fail" not in fired(observed(snapshot(peek(events), logs=logs)))


def test_auth_pattern_in_a_long_or_timed_out_round_is_ignored() -> None:
    long_rounds = round_events(5, NOW - 2000, exit_code=1, duration=120.0)
    timed = round_events(5, NOW - 900, exit_code=1, duration=10.0, timed_out=True, first=6)
    logs = {rn: AUTH_TAIL for rn in range(1, 11)}
    assert "oauth_fail" not in fired(observed(snapshot(peek(long_rounds + timed), logs=logs)))


def test_structured_auth_event_counts_even_when_the_cli_exited_zero() -> None:
    events = round_events(10, NOW - 900)
    events += [
        event("agent_auth_error_detected", NOW - 100, round_num=9),
        event("agent_auth_error_detected", NOW - 50, round_num=10),
    ]
    assert "oauth_fail" in fired(observed(snapshot(peek(sorted(events, key=lambda e: e.ts)))))


def test_one_auth_failure_in_ten_rounds_is_below_the_20_percent_threshold() -> None:
    events = round_events(9, NOW - 900) + round_events(1, NOW - 100, exit_code=1, duration=2, first=10)
    assert "oauth_fail" not in fired(observed(snapshot(peek(events), logs={10: AUTH_TAIL})))


def test_network_fail_from_short_exits_with_network_errors() -> None:
    events = round_events(3, NOW - 300, exit_code=1, duration=3.0)
    logs = {
        1: "API Error: Connection error. ECONNREFUSED",
        2: "getaddrinfo: Name or service not known",
        3: "ok",
    }
    got = fired(observed(snapshot(peek(events), logs=logs)))
    assert got["network_fail"].severity is Severity.WARNING
    assert got["network_fail"].context["matches"] == 2


def test_timeout_rate_counts_timeouts_but_not_grace_kills() -> None:
    events = round_events(8, NOW - 5000) + round_events(2, NOW - 500, timed_out=True, duration=100, first=9)
    assert fired(observed(snapshot(peek(events))))["timeout_rate"].context["timed_out"] == 2
    grace = [
        event(e.kind, e.ts, **{**e.data, "exit_cause": "grace_kill"}) if e.kind == "agent_exit" else e
        for e in events
    ]
    assert "timeout_rate" not in fired(observed(snapshot(peek(grace))))


def test_supervisor_stale_after_one_and_a_half_round_budgets_of_silence() -> None:
    events = round_events(3, NOW - 4000, duration=60)  # last event ~3800 s ago
    assert "supervisor_stale" not in fired(observed(snapshot(peek(events, budget=3000))))
    got = fired(observed(snapshot(peek(events, budget=2000, active=False))))
    assert got["supervisor_stale"].context["threshold_s"] == 3000
    assert "not running" in got["supervisor_stale"].message


def test_stale_age_is_measured_on_the_hosts_clock_so_skew_does_not_fake_staleness() -> None:
    events = round_events(3, NOW - 400, duration=60)
    behind = facts(time=NOW - 7200)  # host clock 2 h behind ours, events written with that clock
    shifted = [event(e.kind, e.ts - 7200, **e.data) for e in events]
    got = fired(observed(snapshot(peek(shifted, budget=300), f=behind)))
    assert "supervisor_stale" not in got
    assert got["clock_skew"].context["skew_s"] == -7200


def test_stale_is_suppressed_during_a_live_schedule_pause() -> None:
    events = round_events(2, NOW - 20000, duration=60)
    events.append(event("schedule_paused", NOW - 19000, resume_at="2057-01-15T08:00:00Z"))
    assert "supervisor_stale" not in fired(observed(snapshot(peek(events, budget=600))))
    events.append(event("schedule_resumed", NOW - 18000))
    assert "supervisor_stale" in fired(observed(snapshot(peek(events, budget=600))))


def test_a_pause_that_should_have_ended_long_ago_no_longer_hides_a_dead_supervisor() -> None:
    events = round_events(2, NOW - 20000, duration=60)
    events.append(event("schedule_paused", NOW - 19000, resume_at="2027-01-15T04:00:00Z"))  # NOW - 4 h
    assert "supervisor_stale" in fired(observed(snapshot(peek(events, budget=600))))


def test_never_started_project_is_not_stale() -> None:
    assert "supervisor_stale" not in fired(observed(snapshot(peek([]))))


def test_hung_round_started_long_ago_without_round_end() -> None:
    events = [*round_events(2, NOW - 9000, duration=60), event("round_start", NOW - 3000, round_num=3)]
    got = fired(observed(snapshot(peek(events, budget=1800))))
    assert got["hung"].context["round_num"] == 3


def test_rate_limit_active_until_reset_then_quiet() -> None:
    events = [
        *round_events(2, NOW - 600),
        event(
            "transient_error_detected",
            NOW - 60,
            reset_at_epoch=NOW + 600,
            classification="rate_limit",
            agent="claude",
        ),
    ]
    assert "rate_limit_active" in fired(observed(snapshot(peek(events))))
    assert "rate_limit_active" not in fired(
        observed(snapshot(peek(events), f=facts(time=NOW + 700))), now=NOW + 700
    )
    recovered = [*events, event("transient_error_recovered", NOW - 10)]
    assert "rate_limit_active" not in fired(observed(snapshot(peek(recovered))))
    # The host's facts (views, history, rules) read the throttle as the detector does.
    assert HostFacts.from_snapshot(snapshot(peek(events))).rate_limited is True
    assert HostFacts.from_snapshot(snapshot(peek(recovered))).rate_limited is False


def test_failed_poll_is_a_blip_until_the_tolerance_then_a_critical_giveup() -> None:
    failure = PollFailure(Stage.CONNECT, "connection refused by 10.0.0.7:22", "is sshd running?")
    blip = fired(observed(failure=failure, failing_since=NOW - 60))
    assert blip["remote_blip"].severity is Severity.WARNING and "remote_giveup" not in blip
    assert "connect failed" in blip["remote_blip"].message
    gone = fired(observed(failure=failure, failing_since=NOW - 300))
    assert gone["remote_giveup"].severity is Severity.CRITICAL and "remote_blip" not in gone


def test_unreachable_host_keeps_disk_and_auth_episodes_unevaluated() -> None:
    _, evaluated, _ = detect(
        observed(failure=PollFailure(Stage.CONNECT, "timed out"), failing_since=NOW), T, NOW
    )
    assert "remote_blip" in evaluated
    assert not {"disk_critical", "oauth_fail", "host_key_changed", "supervisor_stale"} & evaluated


def test_changed_host_key_is_critical_and_not_counted_as_unreachable() -> None:
    failure = PollFailure(Stage.HOST_KEY, "HOST KEY CHANGED", "ssh-keygen -R", key_changed=True)
    got = fired(observed(failure=failure))
    assert got["host_key_changed"].severity is Severity.CRITICAL
    assert "remote_blip" not in got


def test_runner_missing_names_where_it_looked() -> None:
    s = snapshot(None, runner=None)
    got = fired(observed(s))
    assert got["runner_missing"].severity is Severity.CRITICAL
    assert "PATH" in got["runner_missing"].message


def test_peek_crash_is_snapshot_invalid_with_the_remotes_words() -> None:
    s = snapshot(None, peek_error="agent-runner peek crashed: ValueError: bad project name 'my proj'")
    got = fired(observed(s))
    assert "ValueError: bad project name" in got["snapshot_invalid"].message


def test_garbled_probe_output_is_snapshot_invalid_not_unreachable() -> None:
    got = fired(observed(failure=PollFailure(Stage.PARSE, "the remote did not answer the probe: hello")))
    assert set(got) == {"snapshot_invalid"}


def test_a_crashing_detector_reports_itself_and_spares_the_others() -> None:
    def broken(ctx):
        raise KeyError("surprise")

    catalogue = (*BUILTIN, Detector("broken", Needs.PEEK, broken))
    findings, evaluated, _ = detect(
        observed(snapshot(peek(healthy_events()), f=facts(disk=99))), T, NOW, catalogue
    )
    by_name = {f.detector: f for f in findings}
    assert "disk_critical" in by_name
    assert "detector crashed" in by_name["broken"].message
    assert "broken" in evaluated


def test_poisoned_rate_limit_epoch_is_ignored_not_a_crash() -> None:
    p = peek(healthy_events(), rate_limit={"reset_at_epoch": float("nan"), "classification": "rate_limit"})
    assert fired(observed(snapshot(p))) == {}


def test_every_built_in_detector_is_documented() -> None:
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs"
    text = (docs / "detectors.md").read_text() + (docs / "history.md").read_text()
    missing = [d.name for d in BUILTIN if f"`{d.name}`" not in text]
    assert not missing, f"not in docs/detectors.md or docs/history.md: {missing}"
