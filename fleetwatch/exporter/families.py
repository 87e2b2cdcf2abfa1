"""``FleetStatus`` -> Prometheus metric families: every name, type, label and help text is here.

Conventions (prometheus.io "Metric and label naming"): base units (seconds, bytes, ratios 0-1), unit
suffixes (``_seconds``, ``_bytes``, ``_ratio``), ``_total`` on counters only, ``_info`` for labels
carrying facts with the value 1, timestamps as Unix seconds ``*_timestamp_seconds`` so that PromQL's
``time() - x`` is an age that keeps growing when nothing is updated.  Every status value is from the
latest pass, and its help says so; a host's measured values (disk, load, round …) are exposed only while
its latest poll answered and is current, never a stale value dressed as a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from fleetwatch import __version__
from fleetwatch.exporter.source import Exposed, PassStats
from fleetwatch.polls import HostFacts
from fleetwatch.status import FleetStatus, HostState, HostStatus

LATEST = "From fleetwatch's latest pass."
STATE_LABELS = {
    HostState.OK: "ok",
    HostState.WARN: "warn",
    HostState.CRIT: "crit",
    HostState.UNREACHABLE: "unreachable",
    HostState.UNKNOWN: "unknown",
    HostState.NEVER_POLLED: "never_polled",
}
"""The ``state`` label of ``fleetwatch_host_state`` (one series per state, 1 for the host's own)."""

SPEND_HELP = (
    "Agent spend in US dollars since the start of the operator's day (config history.timezone), from "
    "agent-runner's agent_usage_recorded events counted once per round; it restarts from 0 at midnight, "
    "which rate() and increase() take as a counter reset."
)
"""``fleetwatch_spend_usd_total`` reads ``HostStatus.spend_today_usd`` (the history store's daily total,
see docs/history.md): a counter that resets daily, so ``increase(…[1h])`` is the last hour's spend at
any time of day.  A host that recorded no usage today has no series: nothing here estimates spend."""


def _gauge(name: str, help: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, f"{help} {LATEST}", labels=list(labels))


def status_families(status: FleetStatus) -> list[Metric]:
    """The fleet, its hosts and their open alerts as of the latest pass."""
    fleet = _fleet_families(status)
    hosts = _host_families(status)
    alerts = _alert_families(status)
    spend = _spend_families(status.hosts)
    return [*fleet, *hosts, *alerts, *spend]


def _fleet_families(status: FleetStatus) -> list[Metric]:
    last = _gauge("fleetwatch_last_pass_timestamp_seconds", "When the latest pass over this state ran.")
    if status.last_pass_at is not None:
        last.add_metric([], status.last_pass_at)
    interval = _gauge(
        "fleetwatch_pass_interval_seconds",
        "The usual time between passes: the configured interval, or the median recent spacing when longer.",
    )
    interval.add_metric([], status.cadence_s)
    code = _gauge(
        "fleetwatch_status_code",
        "What `fleetwatch check` would exit with: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    )
    code.add_metric([], int(status.code))
    blind = _gauge(
        "fleetwatch_blind",
        "1 when this status cannot vouch for the fleet (watcher offline, no watched host seen, or hosts "
        "still pending at the pass deadline), else 0.",
    )
    blind.add_metric([], 1 if status.blind else 0)
    silences = _gauge("fleetwatch_silences", "Silences and acknowledgements in force.")
    silences.add_metric([], len(status.silences))
    queued = _gauge(
        "fleetwatch_notifications_queued",
        "Notifications waiting for delivery to a target (redacted URL), failed attempts included.",
        ["target"],
    )
    oldest = _gauge(
        "fleetwatch_notifications_oldest_queued_timestamp_seconds",
        "When the oldest notification still waiting for a target was queued.",
        ["target"],
    )
    for b in status.backlog:
        queued.add_metric([b.target], b.pending + b.failed)
        oldest.add_metric([b.target], status.now - b.oldest_age_s)
    return [last, interval, code, blind, silences, queued, oldest]


def host_up(row: HostStatus) -> bool:
    """The latest pass reached the host and its probe answered (what it said may not be understood)."""
    if row.state in (HostState.OK, HostState.WARN, HostState.CRIT):
        return True
    return row.state is HostState.UNKNOWN and not row.stale  # a host the pass did not reach is stale


_FACTS: tuple[tuple[str, str, Callable[[HostFacts], float | None]], ...] = (
    (
        "fleetwatch_host_disk_used_ratio",
        "Used share (0-1, as df's Use%) of the filesystem holding agent-runner's round logs.",
        lambda f: f.disk_used_pct / 100 if f.disk_used_pct is not None else None,
    ),
    (
        "fleetwatch_host_disk_free_bytes",
        "Bytes available to unprivileged users on that filesystem.",
        lambda f: f.disk_free_gb * 1e9 if f.disk_free_gb is not None else None,
    ),
    ("fleetwatch_host_load1", "The host's 1-minute load average.", lambda f: f.load_1m),
    (
        "fleetwatch_host_memory_available_bytes",
        "MemAvailable of /proc/meminfo.",
        lambda f: f.mem_available_mb * 1048576 if f.mem_available_mb is not None else None,
    ),
    (
        "fleetwatch_host_memory_total_bytes",
        "MemTotal of /proc/meminfo.",
        lambda f: f.mem_total_mb * 1048576 if f.mem_total_mb is not None else None,
    ),
    (
        "fleetwatch_host_clock_offset_seconds",
        "The host's clock minus the watcher's at poll time (positive: the host is ahead).",
        lambda f: f.clock_offset_s,
    ),
    ("fleetwatch_round", "agent-runner's current (or latest) round number.", lambda f: f.round),
    (
        "fleetwatch_round_in_progress",
        "1 while a round is running, 0 between rounds.",
        lambda f: None if f.running is None else int(f.running),
    ),
    (
        "fleetwatch_supervisor_active",
        "1 when agent-runner serve (the supervisor) is active, else 0.",
        lambda f: None if f.serve_active is None else int(f.serve_active),
    ),
    (
        "fleetwatch_rate_limited",
        "1 while the agent is throttled by its provider (a rate-limit reset still ahead), else 0.",
        lambda f: None if f.rate_limited is None else int(f.rate_limited),
    ),
    (
        "fleetwatch_supervisor_last_event_timestamp_seconds",
        "When the supervisor wrote its newest event, on the watcher's clock (the host's skew removed).",
        lambda f: f.newest_event_at - f.clock_offset_s if f.newest_event_at is not None else None,
    ),
)


def _host_families(status: FleetStatus) -> list[Metric]:
    up = _gauge(
        "fleetwatch_host_up",
        "1 when the latest pass reached the host and its probe answered; 0 when it was unreachable, never "
        "polled, not reached before the pass deadline, or its latest poll is stale.",
        ["host"],
    )
    state = _gauge(
        "fleetwatch_host_state",
        "The host's state, one series per state (1 for the host's own): ok, warn, crit, unreachable, "
        "unknown (answered but not understood, stale, or pending), never_polled.",
        ["host", "state"],
    )
    info = _gauge(
        "fleetwatch_host_info",
        '1 per host of the fleet; groups: its inventory groups as ,a,b, (match with =~".*,a,.*").',
        ["host", "groups"],
    )
    polled = _gauge(
        "fleetwatch_host_last_poll_timestamp_seconds",
        "When the host was last polled (answered or not).",
        ["host"],
    )
    success = _gauge(
        "fleetwatch_host_last_success_timestamp_seconds",
        "When the host's probe last answered (what it said may not have been understood).",
        ["host"],
    )
    failing = _gauge(
        "fleetwatch_host_failing_since_timestamp_seconds",
        "When polls of the host started failing without a break (absent while it answers).",
        ["host"],
    )
    duration = _gauge(
        "fleetwatch_poll_duration_seconds",
        "How long the host's latest poll took (connect + command).",
        ["host"],
    )
    runner = InfoMetricFamily(
        "fleetwatch_runner",
        f"agent-runner on the host: its path, project and version (empty until reported). {LATEST}",
        labels=["host"],
    )
    facts = {name: _gauge(name, help, ["host"]) for name, help, _ in _FACTS}
    for row in status.hosts:
        host = row.alias
        reached = host_up(row)
        up.add_metric([host], 1 if reached else 0)
        for value, label in STATE_LABELS.items():
            state.add_metric([host, label], 1 if row.state is value else 0)
        info.add_metric([host, f",{','.join(row.groups)}," if row.groups else ""], 1)
        poll = row.poll
        if poll is None:
            continue
        polled.add_metric([host], poll.polled_at)
        if poll.ok_at is not None:
            success.add_metric([host], poll.ok_at)
        if row.failing_since is not None:
            failing.add_metric([host], row.failing_since)
        if poll.latency_s is not None and not row.stale:
            duration.add_metric([host], poll.latency_s)
        if reached and not poll.failed_last and poll.facts is not None:
            _add_facts(facts, runner, host, poll.facts)
    return [up, state, info, polled, success, failing, duration, *facts.values(), runner]


def _add_facts(
    families: Mapping[str, GaugeMetricFamily], runner: InfoMetricFamily, host: str, f: HostFacts
) -> None:
    for name, _, read in _FACTS:
        value = read(f)
        if value is not None:
            families[name].add_metric([host], float(value))
    labels = {"path": f.runner or "", "project": f.project or "", "version": f.runner_version or ""}
    runner.add_metric([host], labels)


def _alert_families(status: FleetStatus) -> list[Metric]:
    active = _gauge(
        "fleetwatch_alert_active",
        "1 for each open alert (episode) of a detector on a host (host fleetwatch: the watcher itself), "
        "muted ones included.",
        ["host", "detector", "severity"],
    )
    since = _gauge(
        "fleetwatch_alert_started_timestamp_seconds",
        "When the open alert's condition was first seen.",
        ["host", "detector", "severity"],
    )
    muted = _gauge(
        "fleetwatch_alert_muted",
        "1 for each open alert fleetwatch does not notify, by reason: silenced, acknowledged, or inhibited "
        "by a root cause (remote_giveup on the host, jump_host_down on its jump host).",
        ["host", "detector", "reason"],
    )
    for a in status.alerts():
        ep = a.episode
        labels = [ep.host, ep.detector, ep.severity.label]
        active.add_metric(labels, 1)
        since.add_metric(labels, ep.started_at)
        if a.muted_by is not None:
            muted.add_metric([ep.host, ep.detector, "acknowledged" if a.muted_by.ack else "silenced"], 1)
        if a.inhibited_by is not None:
            muted.add_metric([ep.host, ep.detector, "inhibited"], 1)
    return [active, since, muted]


def _spend_families(rows: Iterable[HostStatus]) -> list[Metric]:
    spend = CounterMetricFamily("fleetwatch_spend_usd", f"{SPEND_HELP} {LATEST}", labels=["host"])
    for row in rows:
        if row.spend_today_usd is not None:
            spend.add_metric([row.alias], row.spend_today_usd)
    return [spend]


def pass_families(stats: PassStats, *, lifetime: bool) -> list[Metric]:
    """The latest pass's own cost; with ``lifetime`` (a long-running watcher) also its counters since start.

    A ``check`` run from cron leaves ``lifetime`` off: counters that restart at every run would read as
    endless resets."""
    last = _gauge("fleetwatch_last_pass_duration_seconds", "How long the latest pass took, start to settle.")
    polled = _gauge("fleetwatch_last_pass_polled_hosts", "How many hosts the latest pass polled.")
    if stats.last_seconds is not None:
        last.add_metric([], stats.last_seconds)
    if stats.last_polled is not None:
        polled.add_metric([], stats.last_polled)
    found: list[Metric] = [last, polled]
    if not lifetime:
        return found
    duration = SummaryMetricFamily(
        "fleetwatch_pass_duration_seconds", "Duration of this watcher's passes since it started."
    )
    duration.add_metric([], count_value=stats.passes, sum_value=stats.seconds_total)
    counters = (
        (
            "fleetwatch_transitions",
            "Episode changes (opened, escalated, reminded, resolved) stored",
            stats.transitions,
        ),
        (
            "fleetwatch_pass_gaps",
            "Passes that followed a gap (sleep, suspend) and restarted failure clocks",
            stats.gaps,
        ),
        ("fleetwatch_notifications_sent", "Notifications delivered", stats.sent),
        (
            "fleetwatch_notifications_failed",
            "Notification deliveries that failed (retried later)",
            stats.failed,
        ),
    )
    for name, help, value in counters:
        counter = CounterMetricFamily(name, f"{help} since this watcher started.")
        counter.add_metric([], value)
        found.append(counter)
    return [*found, duration]


def build_info() -> Metric:
    """``fleetwatch_build_info{version}``."""
    info = InfoMetricFamily("fleetwatch_build", "The running fleetwatch's version.")
    info.add_metric([], {"version": __version__})
    return info


class FleetCollector(Collector):
    """A custom collector: every ``collect`` renders what ``exposed`` holds now, into new families."""

    def __init__(self, exposed: Exposed, *, lifetime: bool) -> None:
        self.exposed = exposed
        self.lifetime = lifetime

    def collect(self) -> Iterator[Metric]:
        status, passes = self.exposed.status, self.exposed.passes  # read each reference once
        families = [build_info(), *pass_families(passes, lifetime=self.lifetime)]
        if status is not None:
            families[1:1] = status_families(status)
        # A family with nothing to say is left out (no spend wired yet, no backlog): no empty HELP blocks.
        yield from (f for f in families if f.samples)
