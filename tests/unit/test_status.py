"""The one fleet status: a host is OK only when it was polled recently, understood, and nothing is open."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch.episodes import Episode
from fleetwatch.errors import Stage
from fleetwatch.findings import PollFailure, Severity
from fleetwatch.polls import HostFacts, HostPoll
from fleetwatch.silences import Silence
from fleetwatch.status import ExitCode, FleetStatus, HostEntry, HostState, StoredState, build, worst
from tests.unit.builders import NOW, event, peek, snapshot

INTERVAL = 60.0


def facts(**changes: object) -> HostFacts:
    base = HostFacts.from_snapshot(snapshot(peek([event("round_start", NOW - 30, round_num=4)])))
    return HostFacts(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def ok_poll(host: str, at: float = NOW) -> HostPoll:
    return HostPoll(host, at, ok_at=at, latency_s=0.2, facts=facts())


def failed_poll(host: str, stage: Stage, at: float = NOW, ok_at: float | None = None) -> HostPoll:
    return HostPoll(host, at, ok_at=ok_at, failed_at=at, stage=str(stage), message="nope", hint="try")


def ep(host: str, detector: str, severity: Severity = Severity.WARNING) -> Episode:
    return Episode(host, detector, severity, "m", "h", {}, NOW - 100, NOW)


def fleet(
    polls: Sequence[HostPoll],
    eps: Sequence[Episode] = (),
    *,
    hosts: Sequence[HostEntry] | None = None,
    silences: Sequence[Silence] = (),
    now: float = NOW,
) -> FleetStatus:
    stored = StoredState(
        polls={p.host: p for p in polls},
        episodes={e.key: e for e in eps},
        failing_since={},
        silences=silences,
        backlog=(),
        recent_passes=[NOW - 120, NOW - 60, NOW],
    )
    rows = hosts if hosts is not None else [HostEntry(p.host) for p in polls]
    return build(rows, stored, now, interval_s=INTERVAL, gap_factor=3)


def test_polled_understood_and_quiet_is_ok() -> None:
    status = fleet([ok_poll("pi1")])
    [row] = status.hosts
    assert row.state is HostState.OK and row.why == "polled 0 s ago" and status.code is ExitCode.OK


def test_a_host_never_polled_is_never_polled_and_unknown_not_ok() -> None:
    status = fleet([], hosts=[HostEntry("pi9")])
    assert status.hosts[0].state is HostState.NEVER_POLLED and status.code is ExitCode.UNKNOWN


def test_a_host_whose_latest_poll_failed_is_unreachable_and_keeps_its_last_good_values() -> None:
    poll = failed_poll("pi1", Stage.CONNECT, ok_at=NOW - 600)
    poll = HostPoll(**{**poll.__dict__, "facts": facts(disk_used_pct=55.0)})
    [row] = fleet([poll]).hosts
    assert row.state is HostState.UNREACHABLE and row.why.startswith("connect failed 0 s ago: nope")
    assert row.poll is not None and row.poll.facts is not None and row.poll.facts.disk_used_pct == 55.0
    assert row.code is ExitCode.WARNING  # never OK while unseen, even before any alert opened
    assert not row.current  # every view marks these values as not current


def test_only_a_recent_answered_poll_is_current() -> None:
    now = NOW + 3600
    fresh, old = fleet([ok_poll("pi1", now), ok_poll("pi2", NOW)], now=now).hosts
    assert fresh.current and not old.current and old.stale
    assert not fleet([], hosts=[HostEntry("pi9")]).hosts[0].current


def test_unreachable_with_a_giveup_open_is_critical() -> None:
    status = fleet([failed_poll("pi1", Stage.AUTH)], [ep("pi1", "remote_giveup", Severity.CRITICAL)])
    assert status.hosts[0].state is HostState.UNREACHABLE and status.code is ExitCode.CRITICAL


def test_an_answer_that_was_not_understood_is_unknown() -> None:
    parse = fleet([failed_poll("pi1", Stage.PARSE)])
    garbled = fleet([HostPoll("pi2", NOW, ok_at=NOW, facts=facts(understood=False, problem="peek crashed"))])
    assert parse.hosts[0].state is HostState.UNKNOWN and parse.code is ExitCode.UNKNOWN
    assert (
        garbled.hosts[0].state is HostState.UNKNOWN and "not understood: peek crashed" in garbled.hosts[0].why
    )


def test_a_poll_older_than_the_usual_spacing_allows_is_stale_not_current() -> None:
    status = fleet([ok_poll("pi1", at=NOW - 3600)], now=NOW)
    [row] = status.hosts
    assert row.state is HostState.UNKNOWN and row.stale and row.why == "stale: last polled 60 min ago"
    assert status.code is ExitCode.UNKNOWN


def test_open_alerts_make_warn_and_crit_worst_first() -> None:
    status = fleet(
        [ok_poll("pi1"), ok_poll("pi2")],
        [ep("pi1", "disk_warning"), ep("pi1", "disk_critical", Severity.CRITICAL), ep("pi2", "clock_skew")],
    )
    pi1, pi2 = status.hosts
    assert (pi1.state, pi2.state) == (HostState.CRIT, HostState.WARN)
    assert [a.episode.detector for a in pi1.alerts] == ["disk_critical", "disk_warning"]
    assert [a.episode.detector for a in status.alerts()] == ["disk_critical", "disk_warning", "clock_skew"]


def test_an_info_alert_leaves_the_host_ok() -> None:
    status = fleet([ok_poll("pi1")], [ep("pi1", "supervisor_finished", Severity.INFO)])
    assert status.hosts[0].state is HostState.OK and status.code is ExitCode.OK


def test_a_muted_alert_shows_its_state_but_does_not_count_in_the_exit_code() -> None:
    e = ep("pi1", "oauth_fail", Severity.CRITICAL)
    ack = Silence(1, "pi1", "oauth_fail", None, True, e.started_at, "re-login", NOW, "ops@lap")
    status = fleet([ok_poll("pi1")], [e], silences=[ack])
    [row] = status.hosts
    assert row.state is HostState.CRIT and row.alerts[0].muted_by == ack and status.code is ExitCode.OK
    # check counts it ok (it raises nothing) and says why, so its line and `status` tell one story.
    from fleetwatch.cli.render import check_summary

    line = check_summary(status, 1.0).line
    assert "1 ok of 1 hosts; 1 of the ok hosts has muted alerts only |" in line, line


def test_a_disabled_host_is_shown_but_not_judged() -> None:
    status = fleet([], hosts=[HostEntry("pi1", enabled=False)])
    assert status.hosts[0].state is HostState.NEVER_POLLED and status.hosts[0].code is ExitCode.UNKNOWN
    assert status.watched == ()
    # Not judged: it adds nothing to the exit code.  But a fleet where nothing at all is watched cannot
    # vouch for anything: UNKNOWN, never OK (it was OK, as `status` on an empty fleet was).
    assert status.blind and status.code is ExitCode.UNKNOWN
    with_one = fleet([ok_poll("pi2")], hosts=[HostEntry("pi1", enabled=False), HostEntry("pi2")])
    assert with_one.code is ExitCode.OK


def test_the_watcher_offline_makes_the_status_blind_unknown_unless_something_is_critical() -> None:
    assert not fleet([ok_poll("pi1")]).watcher_offline
    status = fleet([ok_poll("pi1")], [ep("fleetwatch", "watcher_offline")])
    assert status.watcher_offline
    assert [a.episode.detector for a in status.watcher] == ["watcher_offline"]
    assert status.blind and status.code is ExitCode.UNKNOWN
    both = [ep("fleetwatch", "watcher_offline"), ep("pi1", "disk_critical", Severity.CRITICAL)]
    assert fleet([ok_poll("pi1")], both).code is ExitCode.CRITICAL


def test_nothing_seen_is_blind_and_unknown_even_with_only_warnings() -> None:
    status = fleet([failed_poll("pi1", Stage.CONNECT)], [ep("pi1", "remote_blip")])
    assert status.blind and status.code is ExitCode.UNKNOWN
    seen = fleet([failed_poll("pi1", Stage.CONNECT), ok_poll("pi2")], [ep("pi1", "remote_blip")])
    assert not seen.blind and seen.code is ExitCode.WARNING


def test_hosts_pending_at_the_deadline_are_unknown_and_the_status_is_blind() -> None:
    stored = StoredState({"pi1": ok_poll("pi1")}, {}, {}, (), (), [NOW])
    rows = [HostEntry("pi1"), HostEntry("pi2")]
    status = build(rows, stored, NOW, interval_s=60, gap_factor=3, pending=["pi2"])
    assert status.hosts[1].state is HostState.UNKNOWN and "deadline" in status.hosts[1].why
    assert status.code is ExitCode.UNKNOWN
    # A pending host answered an earlier pass: its values are that pass's, never shown as current.
    again = build(rows, stored, NOW, interval_s=60, gap_factor=3, pending=["pi1"])
    late = again.hosts[0]
    assert late.state is HostState.UNKNOWN and "deadline" in late.why
    assert late.stale and not late.current and late.poll is not None


def test_a_host_in_giveup_inhibits_its_other_alerts_and_a_down_jump_host_those_behind_it() -> None:
    giveup = ep("pi1", "remote_giveup", Severity.CRITICAL)
    disk = ep("pi1", "disk_critical", Severity.CRITICAL)
    status = fleet([failed_poll("pi1", Stage.CONNECT)], [giveup, disk])
    alerts = {a.episode.detector: a for a in status.hosts[0].alerts}
    assert alerts["remote_giveup"].live
    assert alerts["disk_critical"].inhibited_by == "remote_giveup: pi1 is unreachable"
    behind = HostPoll("pi2", NOW, failed_at=NOW, stage="connect", message="via jump host b1: x", via="b1")
    jump = Episode("b1", "jump_host_down", Severity.WARNING, "m", "h", {"hosts": ["pi2"]}, NOW - 5, NOW)
    status = fleet([behind], [jump, ep("pi2", "clock_skew")])
    assert status.hosts[0].alerts[0].inhibited_by == "jump_host_down on b1"
    assert [a.episode.detector for a in status.watcher] == ["jump_host_down"]


def test_exit_codes_order_like_the_monitoring_plugins() -> None:
    assert worst([ExitCode.OK, ExitCode.UNKNOWN]) is ExitCode.UNKNOWN
    assert worst([ExitCode.UNKNOWN, ExitCode.WARNING]) is ExitCode.WARNING
    assert worst([ExitCode.WARNING, ExitCode.CRITICAL, ExitCode.UNKNOWN]) is ExitCode.CRITICAL
    assert worst([]) is ExitCode.OK


def test_facts_summarise_a_snapshot_and_survive_the_store() -> None:
    snap = snapshot(peek([event("round_start", NOW - 30, round_num=4), event("monitor_started", NOW - 1)]))
    f = HostFacts.from_snapshot(snap)
    assert (f.round, f.newest_event, f.disk_used_pct, f.load_1m, f.understood) == (
        None,
        "round_start",
        40.0,
        0.5,
        True,
    )
    assert f.newest_event_age_s(NOW + 10) == 40.0
    assert HostFacts.from_json(f.to_json()) == f
    assert HostFacts.from_json("not json") is None
    assert PollFailure(Stage.CONNECT, "x").latency_s is None
