"""The auto-stop planner: guards, the fleet breaker across runs, never twice for one episode.  Pure."""

from __future__ import annotations

import subprocess
import sys

from fleetwatch.actions.plan import (
    HOUR_S,
    AuditRecord,
    AutoStopPolicy,
    Outcome,
    StopPlan,
    hosts_stopped_since,
    plan_stops,
)
from fleetwatch.episodes import Episode, EpisodeKey
from fleetwatch.findings import Severity

NOW = 1_800_000_000.0
ON = AutoStopPolicy(on=frozenset({"oauth_fail", "disk_critical"}))


def ep(
    host: str = "pi1",
    detector: str = "oauth_fail",
    *,
    hits: int = 2,
    started: float = NOW - 600,
    opened: bool = True,
    seen: float = NOW,
) -> Episode:
    """An episode as the state machine leaves it after a pass at NOW."""
    return Episode(
        host=host,
        detector=detector,
        severity=Severity.CRITICAL,
        message=f"{detector} on {host}",
        hint="",
        context={},
        started_at=started,
        last_seen_at=seen,
        opened=opened,
        hits=hits,
    )


def episodes(*eps: Episode) -> dict[EpisodeKey, Episode]:
    """Keyed as PassResult.episodes."""
    return {e.key: e for e in eps}


def record(
    host: str = "pi1",
    detector: str = "oauth_fail",
    *,
    at: float = NOW - 60,
    episode: float = NOW - 600,
    outcome: Outcome = Outcome.STOPPED,
    dry_run: bool = False,
) -> AuditRecord:
    """A stored action."""
    return AuditRecord(
        id=1,
        host=host,
        detector=detector,
        episode_started_at=episode,
        reason="why",
        argv=("agent-runner", "stop"),
        where="pi@10.0.0.1:22",
        who="me@laptop",
        started_at=at,
        finished_at=at + 5,
        outcome=outcome,
        detail="",
        dry_run=dry_run,
    )


def test_nothing_is_stopped_by_default_even_for_a_critical_episode() -> None:
    assert plan_stops(episodes(ep(hits=50)), AutoStopPolicy(), [], NOW) == ([], [])


def test_a_chosen_detector_that_held_on_enough_consecutive_polls_is_stopped_with_its_reason() -> None:
    plans, held = plan_stops(episodes(ep(), ep("pi2", "disk_warning")), ON, [], NOW)
    assert plans == [StopPlan("pi1", "oauth_fail", "oauth_fail on pi1", NOW - 600)]
    assert held == []  # disk_warning is not opted in: not even explained


def test_one_poll_is_not_enough_and_the_explanation_says_how_many_held() -> None:
    plans, held = plan_stops(episodes(ep(hits=1)), ON, [], NOW)
    assert plans == []
    assert held == ["pi1 oauth_fail: auto-stop held back: the condition held on 1 of 2 consecutive polls"]
    plans, _ = plan_stops(episodes(ep(hits=1)), AutoStopPolicy(on=ON.on, consecutive=1), [], NOW)
    assert [p.host for p in plans] == ["pi1"]


def test_a_pending_episode_is_never_stopped() -> None:
    plans, held = plan_stops(episodes(ep(opened=False, hits=5)), ON, [], NOW)
    assert plans == [] and "still pending" in held[0]


def test_a_host_that_did_not_answer_this_pass_is_held_back() -> None:
    plans, held = plan_stops(episodes(ep()), ON, [], NOW, polled={"pi2": NOW - 1})
    assert plans == [] and "did not answer this pass" in held[0]


def test_an_episode_not_seen_on_this_pass_answer_is_held_back() -> None:
    # The host answered at NOW - 1 but the episode was last seen a pass earlier (peek broke meanwhile).
    plans, held = plan_stops(episodes(ep(seen=NOW - 60)), ON, [], NOW, polled={"pi1": NOW - 1})
    assert plans == [] and "could not be checked on this pass" in held[0]
    plans, _ = plan_stops(episodes(ep()), ON, [], NOW, polled={"pi1": NOW - 1})
    assert len(plans) == 1


def test_the_same_episode_is_never_stopped_twice_whatever_the_first_outcome() -> None:
    for outcome in Outcome:
        if outcome is Outcome.DRY_RUN:
            continue
        plans, held = plan_stops(episodes(ep()), ON, [record(outcome=outcome)], NOW)
        assert plans == [], outcome
        assert "already stopped for this episode" in held[0] and str(outcome) in held[0]


def test_an_old_stop_for_this_episode_still_counts_after_the_breaker_hour() -> None:
    old = record(at=NOW - 5 * HOUR_S, episode=NOW - 6 * HOUR_S, outcome=Outcome.FAILED)
    plans, held = plan_stops(episodes(ep(started=NOW - 6 * HOUR_S)), ON, [old], NOW)
    assert plans == [] and "already stopped for this episode" in held[0]


def test_a_new_episode_after_an_earlier_stop_may_stop_again() -> None:
    earlier = record(at=NOW - 900, episode=NOW - 1200)
    plans, _ = plan_stops(episodes(ep(started=NOW - 600)), ON, [earlier], NOW)
    assert [p.episode_started_at for p in plans] == [NOW - 600]


def test_a_host_already_stopped_for_another_detector_during_this_episode_is_not_stopped_again() -> None:
    other = record(detector="disk_critical", at=NOW - 60, episode=NOW - 300)
    plans, held = plan_stops(episodes(ep(started=NOW - 600)), ON, [other], NOW)
    assert plans == [] and "already stopped at" in held[0] and "for disk_critical" in held[0]


def test_two_detectors_on_one_host_make_one_stop() -> None:
    plans, held = plan_stops(episodes(ep(), ep(detector="disk_critical", started=NOW - 300)), ON, [], NOW)
    assert [(p.host, p.detector) for p in plans] == [("pi1", "oauth_fail")]  # the older episode
    assert held == ["pi1 disk_critical: auto-stop held back: already being stopped this pass for oauth_fail"]


def test_the_breaker_stops_at_most_max_per_hour_hosts_oldest_episode_first() -> None:
    policy = AutoStopPolicy(on=ON.on, max_per_hour=1)
    eps = episodes(ep("pi2", started=NOW - 500), ep("pi1", started=NOW - 900))
    plans, held = plan_stops(eps, policy, [], NOW)
    assert [p.host for p in plans] == ["pi1"]
    assert len(held) == 1 and held[0].startswith("pi2 oauth_fail: auto-stop held back by the fleet breaker")


def test_the_breaker_holds_across_runs_from_the_audit_records_until_the_hour_is_over() -> None:
    policy = AutoStopPolicy(on=ON.on, max_per_hour=1)
    first_run = [record("pi1", at=NOW - 1800, episode=NOW - 2000)]
    plans, held = plan_stops(episodes(ep("pi2", started=NOW - 600)), policy, first_run, NOW)
    assert plans == []
    assert "1 host(s) auto-stopped in the last hour (max 1): pi1" in held[0]
    assert "next slot at 2027-01-15 08:30:00Z" in held[0]
    later = NOW + 1801  # the pi1 stop is now more than an hour old
    plans, _ = plan_stops(episodes(ep("pi2", started=NOW - 600, seen=later)), policy, first_run, later)
    assert [p.host for p in plans] == ["pi2"]


def test_the_breaker_counts_hosts_not_stops_and_failed_attempts_count() -> None:
    policy = AutoStopPolicy(on=ON.on, max_per_hour=2)
    recent = [
        record("pi1", at=NOW - 100, episode=NOW - 3000, outcome=Outcome.FAILED),
        record("pi1", "disk_critical", at=NOW - 50, episode=NOW - 2000),
        record("pi2", at=NOW - 40, episode=NOW - 2000),
    ]
    assert hosts_stopped_since(recent, NOW - HOUR_S) == {"pi1": NOW - 100, "pi2": NOW - 40}
    # pi1 is already counted: a new episode there does not need a new slot; pi3 does.
    eps = episodes(ep("pi1", "oauth_fail", started=NOW - 10), ep("pi3", started=NOW - 20))
    plans, held = plan_stops(eps, policy, recent, NOW)
    assert [p.host for p in plans] == ["pi1"]
    assert "fleet breaker" in held[0] and held[0].startswith("pi3")


def test_a_zero_breaker_never_stops() -> None:
    plans, held = plan_stops(episodes(ep()), AutoStopPolicy(on=ON.on, max_per_hour=0), [], NOW)
    assert plans == [] and "fleet breaker" in held[0]


def test_dry_runs_never_count_for_real_runs_but_do_for_later_dry_runs() -> None:
    policy = AutoStopPolicy(on=ON.on, max_per_hour=1)
    dry = [record("pi1", outcome=Outcome.DRY_RUN, dry_run=True)]
    eps = episodes(ep("pi1"), ep("pi2", started=NOW - 500))
    real, _ = plan_stops(eps, policy, dry, NOW)
    assert [p.host for p in real] == ["pi1"]
    preview, held = plan_stops(eps, policy, dry, NOW, dry_run=True)
    assert preview == []
    assert "already stopped for this episode" in held[0] and "(dry-run)" in held[0]
    assert "fleet breaker" in held[1]


def test_the_planner_loads_no_edge_library() -> None:
    code = (
        "import sys, fleetwatch.actions.plan, fleetwatch.actions.audit\n"
        "edges = ('asyncssh', 'textual', 'apprise')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in edges)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
