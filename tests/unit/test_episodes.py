"""The episode state machine: one episode per condition, reported when it starts and when it ends."""

from __future__ import annotations

from fleetwatch.episodes import Change, advance
from fleetwatch.findings import Finding, Severity

ALL = frozenset({"disk_critical", "disk_warning", "oauth_fail"})


def f(host: str, detector: str, severity: Severity = Severity.CRITICAL, msg: str = "m") -> Finding:
    return Finding(host, detector, severity, msg)


def test_same_condition_on_consecutive_polls_is_one_episode() -> None:
    state, t1 = advance({}, [f("pi", "disk_critical")], {"pi": ALL}, 100.0)
    state, t2 = advance(state, [f("pi", "disk_critical", msg="still")], {"pi": ALL}, 160.0)
    assert [t.change for t in t1] == [Change.OPENED] and t2 == []
    ep = state[("pi", "disk_critical")]
    assert ep.started_at == 100.0 and ep.last_seen_at == 160.0 and ep.message == "still"


def test_episode_resolves_when_its_detector_runs_and_finds_nothing() -> None:
    state, _ = advance({}, [f("pi", "disk_critical")], {"pi": ALL}, 100.0)
    state, ts = advance(state, [], {"pi": ALL}, 400.0)
    assert state == {}
    assert [(t.change, t.episode.started_at, t.at) for t in ts] == [(Change.RESOLVED, 100.0, 400.0)]


def test_unevaluated_detector_keeps_its_episode_open() -> None:
    state, _ = advance({}, [f("pi", "disk_critical")], {"pi": ALL}, 100.0)
    state, ts = advance(state, [], {"pi": frozenset({"remote_blip"})}, 200.0)
    assert ts == [] and ("pi", "disk_critical") in state


def test_hosts_outside_the_pass_are_left_alone() -> None:
    state, _ = advance({}, [f("pi1", "oauth_fail"), f("pi2", "oauth_fail")], {"pi1": ALL, "pi2": ALL}, 1.0)
    state, ts = advance(state, [], {"pi1": ALL}, 2.0)
    assert [t.episode.host for t in ts] == ["pi1"] and ("pi2", "oauth_fail") in state


def test_rising_severity_is_an_escalation_falling_is_silent() -> None:
    state, _ = advance({}, [f("pi", "x", Severity.WARNING)], {"pi": ALL | {"x"}}, 1.0)
    state, up = advance(state, [f("pi", "x", Severity.CRITICAL)], {"pi": ALL | {"x"}}, 2.0)
    state, down = advance(state, [f("pi", "x", Severity.WARNING)], {"pi": ALL | {"x"}}, 3.0)
    assert [t.change for t in up] == [Change.ESCALATED] and down == []
    assert state[("pi", "x")].severity is Severity.WARNING and state[("pi", "x")].started_at == 1.0


def test_advance_does_not_mutate_its_input() -> None:
    state, _ = advance({}, [f("pi", "oauth_fail")], {"pi": ALL}, 1.0)
    frozen = dict(state)
    advance(state, [], {"pi": ALL}, 2.0)
    assert state == frozen
