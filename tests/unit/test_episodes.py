"""The episode state machine: one episode per condition, reported when it starts and when it ends."""

from __future__ import annotations

from fleetwatch.episodes import Change, Damping, Policy, advance
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


def test_for_n_polls_keeps_the_episode_pending_and_unreported_until_then() -> None:
    policy = Policy(damping={"oauth_fail": Damping(for_polls=3)})
    state, t1 = advance({}, [f("pi", "oauth_fail")], {"pi": ALL}, 1.0, policy)
    state, t2 = advance(state, [f("pi", "oauth_fail")], {"pi": ALL}, 2.0, policy)
    assert t1 == t2 == [] and not state[("pi", "oauth_fail")].opened
    state, t3 = advance(state, [f("pi", "oauth_fail")], {"pi": ALL}, 3.0, policy)
    assert [t.change for t in t3] == [Change.OPENED] and state[("pi", "oauth_fail")].started_at == 1.0


def test_a_pending_condition_that_goes_away_is_forgotten_silently() -> None:
    policy = Policy(damping={"oauth_fail": Damping(for_polls=2)})
    state, _ = advance({}, [f("pi", "oauth_fail")], {"pi": ALL}, 1.0, policy)
    state, ts = advance(state, [], {"pi": ALL}, 2.0, policy)
    assert state == {} and ts == []


def test_a_short_recovery_neither_closes_nor_reopens_with_clear_2() -> None:
    policy = Policy(damping={"disk_critical": Damping(clear_polls=2)})
    state, _ = advance({}, [f("pi", "disk_critical")], {"pi": ALL}, 1.0, policy)
    state, gap = advance(state, [], {"pi": ALL}, 2.0, policy)
    state, back = advance(state, [f("pi", "disk_critical")], {"pi": ALL}, 3.0, policy)
    assert gap == [] and back == [] and state[("pi", "disk_critical")].started_at == 1.0
    state, _ = advance(state, [], {"pi": ALL}, 4.0, policy)
    state, done = advance(state, [], {"pi": ALL}, 5.0, policy)
    assert [t.change for t in done] == [Change.RESOLVED] and state == {}


def test_open_critical_episodes_are_reminded_every_repeat_interval() -> None:
    policy = Policy(repeat_interval=100.0)
    state, _ = advance({}, [f("pi", "disk_critical")], {"pi": ALL}, 0.0, policy)
    changes = []
    for now in (50.0, 100.0, 150.0, 200.0):
        state, ts = advance(state, [f("pi", "disk_critical")], {"pi": ALL}, now, policy)
        changes.append([t.change for t in ts])
    assert changes == [[], [Change.REMINDED], [], [Change.REMINDED]]


def test_warnings_are_not_reminded_and_zero_disables_reminders() -> None:
    state, _ = advance(
        {}, [f("pi", "disk_warning", Severity.WARNING)], {"pi": ALL}, 0.0, Policy(repeat_interval=1)
    )
    state, ts = advance(
        state, [f("pi", "disk_warning", Severity.WARNING)], {"pi": ALL}, 9.0, Policy(repeat_interval=1)
    )
    assert ts == []
    state, _ = advance({}, [f("pi", "oauth_fail")], {"pi": ALL}, 0.0, Policy(repeat_interval=0))
    state, ts = advance(state, [f("pi", "oauth_fail")], {"pi": ALL}, 1e9, Policy(repeat_interval=0))
    assert ts == []


def test_hits_count_consecutive_polls_and_reset_on_a_clean_one() -> None:
    policy = Policy(damping={"oauth_fail": Damping(clear_polls=3)})
    state, _ = advance({}, [f("pi", "oauth_fail")], {"pi": ALL}, 1.0, policy)
    state, _ = advance(state, [f("pi", "oauth_fail")], {"pi": ALL}, 2.0, policy)
    assert state[("pi", "oauth_fail")].hits == 2
    state, _ = advance(state, [], {"pi": ALL}, 3.0, policy)
    assert state[("pi", "oauth_fail")].hits == 0
