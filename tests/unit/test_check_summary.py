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
    summary = check_summary(status(eps), {"seconds": 2.5})
    assert summary.code is ExitCode.CRITICAL
    assert summary.line == (
        "FLEETWATCH CRITICAL - 2 critical, 1 warning, 9 ok of 12 hosts | "
        "hosts=12 ok=9 warning=1 critical=2 alerts=5 muted=0 seconds=2.5 pending=0 failed=0"
    )


def test_all_quiet_is_ok() -> None:
    summary = check_summary(status([]))
    assert summary.code is ExitCode.OK and summary.line.startswith(
        "FLEETWATCH OK - 0 critical, 0 warning, 12 ok"
    )


def test_silenced_or_acknowledged_alerts_do_not_raise_the_status() -> None:
    e = ep("pi1", "disk_critical", Severity.CRITICAL)
    ack = Silence(1, "pi1", "disk_critical", None, True, e.started_at, "known", NOW, "ops")
    summary = check_summary(status([e], [ack]))
    assert summary.code is ExitCode.OK and summary.perfdata["muted"] == 1


def test_the_watcher_being_offline_is_a_warning_even_though_no_host_is() -> None:
    e = ep("fleetwatch", "watcher_offline", Severity.WARNING)
    summary = check_summary(status([e]))
    assert summary.code is ExitCode.WARNING and summary.perfdata["ok"] == 12
