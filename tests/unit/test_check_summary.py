"""The cron check's summary line follows monitoring-plugin conventions (status, counts, perfdata)."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch.cli.render import check_summary
from fleetwatch.episodes import Episode
from fleetwatch.findings import Severity
from fleetwatch.polls import HostPoll
from fleetwatch.silences import Silence
from fleetwatch.status import ExitCode, FleetStatus, HostEntry, StoredState, build

HOSTS = [f"pi{i}" for i in range(1, 13)]
NOW = 1000.0


def ep(host: str, detector: str, severity: Severity) -> Episode:
    return Episode(host, detector, severity, "m", "h", {}, 1.0, 2.0)


def status(eps: Sequence[Episode], silences: Sequence[Silence] = ()) -> FleetStatus:
    """The fleet as it stands right after a pass that polled every host."""
    stored = StoredState(
        polls={h: HostPoll(h, NOW, ok_at=NOW) for h in HOSTS},
        episodes={e.key: e for e in eps},
        failing_since={},
        silences=silences,
        backlog=(),
        recent_passes=[NOW],
    )
    return build([HostEntry(h) for h in HOSTS], stored, NOW, interval_s=300, gap_factor=3)


def test_summary_counts_hosts_by_their_worst_alert_and_carries_perfdata() -> None:
    eps = [
        ep("pi1", "disk_critical", Severity.CRITICAL),
        ep("pi1", "disk_warning", Severity.WARNING),
        ep("pi2", "oauth_fail", Severity.CRITICAL),
        ep("pi3", "remote_blip", Severity.WARNING),
        ep("pi4", "supervisor_finished", Severity.INFO),
    ]
    summary = check_summary(status(eps), 2.5)
    assert summary.code is ExitCode.CRITICAL
    assert summary.line == (
        "FLEETWATCH CRITICAL - 2 critical, 1 warning, 0 unreachable, 0 unknown, 9 ok of 12 hosts | "
        "'hosts'=12;;;0 'ok'=9;;;0;12 'warning'=1;0;;0;12 'critical'=2;;0;0;12 'unreachable'=0;0;;0;12 "
        "'unknown'=0;0;;0;12 'hosts_pending'=0;0;;0;12 'alerts'=5;;;0 'muted'=0;;;0 'time'=2.5s;;;0 "
        "'notify_pending'=0;;;0 'notify_failed'=0;0;;0"
    )


def test_all_quiet_is_ok() -> None:
    summary = check_summary(status([]), 1.0)
    assert summary.code is ExitCode.OK and summary.line.startswith(
        "FLEETWATCH OK - 0 critical, 0 warning, 0 unreachable, 0 unknown, 12 ok"
    )


def test_silenced_or_acknowledged_alerts_do_not_raise_the_status() -> None:
    e = ep("pi1", "disk_critical", Severity.CRITICAL)
    ack = Silence(1, "pi1", "disk_critical", None, True, e.started_at, "known", NOW, "ops")
    summary = check_summary(status([e], [ack]), 1.0)
    assert summary.code is ExitCode.OK and summary.perfdata["muted"] == 1


def test_the_watcher_being_offline_is_unknown_and_says_so() -> None:
    e = ep("fleetwatch", "watcher_offline", Severity.WARNING)
    summary = check_summary(status([e]), 1.0)
    assert summary.code is ExitCode.UNKNOWN and "; this watcher seems offline |" in summary.line


def test_hosts_not_seen_are_counted_unreachable_or_unknown_never_ok() -> None:
    stored = StoredState(
        polls={"pi1": HostPoll("pi1", NOW, failed_at=NOW, stage="connect", message="refused")},
        episodes={},
        failing_since={},
        silences=(),
        backlog=(),
        recent_passes=[NOW],
    )
    rows = [HostEntry("pi1"), HostEntry("pi2")]
    summary = check_summary(build(rows, stored, NOW, interval_s=300, gap_factor=3), 1.0)
    assert summary.line.startswith(
        "FLEETWATCH UNKNOWN - 0 critical, 0 warning, 1 unreachable, 1 unknown, 0 ok of 2"
    )
    assert summary.perfdata["ok"] == 0 and summary.code is ExitCode.UNKNOWN


def test_perfdata_follows_the_plugin_guidelines_and_no_pipe_reaches_the_output() -> None:
    import re

    from fleetwatch.cli.render import check_lines

    e = Episode("pi1", "snapshot_invalid", Severity.WARNING, "peek said a|b", "h", {}, 1.0, 2.0)
    st = status([e])
    summary = check_summary(st, 5.414)
    _, perf = summary.line.split(" | ")
    assert "'time'=5.41s;;;0" in perf.split()
    for item in perf.split():
        assert re.fullmatch(r"'[a-z_]+'=\d+(\.\d+)?s?(;[0-9]*){0,4}", item), item
    lines = check_lines(st, summary, [])
    assert all("|" not in line for line in lines[1:]) and "peek said a¦b" in lines[1]
