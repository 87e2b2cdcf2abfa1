"""One fleet status for every front end: ``check``, ``status``, the TUI and the Prometheus exporter.  Pure.

``build`` turns what the state store holds (each host's latest poll, the episodes, failure clocks,
silences, the notification backlog, when recent passes ran) into a ``FleetStatus``; front ends render
it and none assembles its own.  A host is OK only when it was polled recently, its data was understood
and no alert is open on it: never polled, unreachable, not understood and stale are states of their own,
never "OK by absence of alerts".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fleetwatch.basics import human_duration
from fleetwatch.episodes import Episode, EpisodeKey
from fleetwatch.errors import Stage
from fleetwatch.findings import Severity
from fleetwatch.notify.model import Backlog
from fleetwatch.polls import HostPoll
from fleetwatch.silences import Silence, active
from fleetwatch.vantage import JUMP_DOWN, WATCHER, WATCHER_DETECTORS, cadence, inhibitions


class ExitCode(enum.IntEnum):
    """Monitoring-plugin convention (Nagios, Icinga, Sensu)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def rank(self) -> int:
        """Worse is higher: OK < UNKNOWN < WARNING < CRITICAL (the plugins' ``max_state_alt``)."""
        return (0, 2, 3, 1)[self]


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    """The worst of ``codes`` (OK when there are none)."""
    return max(codes, key=lambda c: c.rank, default=ExitCode.OK)


def code_of(severity: Severity | None) -> ExitCode:
    """The exit code an alert of ``severity`` calls for (None: no alert)."""
    return {Severity.WARNING: ExitCode.WARNING, Severity.CRITICAL: ExitCode.CRITICAL}.get(
        severity or Severity.INFO, ExitCode.OK
    )


class HostState(enum.StrEnum):
    """What a status row says about a host, spelled out (it must read without colour)."""

    OK = "OK"
    WARN = "WARN"
    CRIT = "CRIT"
    UNREACHABLE = "UNREACHABLE"
    UNKNOWN = "UNKNOWN"
    """Polled, but what it said was not understood, or the latest poll is too old to stand for now."""
    NEVER_POLLED = "NEVER POLLED"


_SEEN = (HostState.OK, HostState.WARN, HostState.CRIT)
_ANSWERED = {Stage.PARSE.value}
"""Failure stages at which the host did answer (its data was the problem, not the path to it)."""


@dataclass(frozen=True)
class HostEntry:
    """A fleet member as the inventory lists it (no resolution needed to show it)."""

    alias: str
    groups: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class Alert:
    """An open episode and what mutes it, if anything."""

    episode: Episode
    muted_by: Silence | None = None
    inhibited_by: str | None = None
    """The root cause that explains it (``remote_giveup: pi3 is unreachable``, ``jump_host_down on b1``)."""

    @property
    def live(self) -> bool:
        """Not silenced, acknowledged or inhibited: it counts towards the exit code."""
        return self.muted_by is None and self.inhibited_by is None


@dataclass(frozen=True)
class HostStatus:
    """One row: a host's state, why, its open alerts and its latest poll."""

    alias: str
    groups: tuple[str, ...]
    enabled: bool
    state: HostState
    why: str
    """One phrase: what the state rests on (``polled 12 s ago``, ``connect failed 3 min ago: …``)."""
    alerts: tuple[Alert, ...] = ()
    """Open alerts, worst first."""
    poll: HostPoll | None = None
    failing_since: float | None = None
    """When polls of this host started failing continuously (None while it answers)."""
    stale: bool = False
    """The latest poll is older than the fleet's usual spacing allows: its values are not current."""
    trends: Mapping[str, float] = field(default_factory=dict)
    """Change per hour over the last hour of history (``disk_used_pct``, ``load_1m``)."""
    spend_today_usd: float | None = None
    """What its agent spent today (the operator's day), None when it recorded no usage."""
    pending: bool = False
    """Still out when the pass reached its deadline: not polled this pass."""

    @property
    def current(self) -> bool:
        """Whether the row's values come from the latest poll and that poll is recent (otherwise they
        are the last good ones, and every view must say so)."""
        return self.poll is not None and not self.poll.failed_last and not self.stale

    def why_at(self, now: float) -> str:
        """``why`` as it reads at ``now`` (a view that stays open: "polled 40 s ago", not the 0 s it said
        when the status was read); the state and staleness stay the status's own."""
        if self.poll is None or self.pending:
            return self.why
        return _state(self.poll, self.alerts, now, -1.0 if self.stale else math.inf)[1]

    @property
    def live_severity(self) -> Severity | None:
        """The worst unmuted open alert's severity (None when there is none)."""
        return max((a.episode.severity for a in self.alerts if a.live), default=None)

    @property
    def code(self) -> ExitCode:
        """This host's part of the exit code: its unmuted alerts, and never OK while it is not seen."""
        alerts = code_of(self.live_severity)
        if self.state is HostState.UNREACHABLE:
            return worst((alerts, ExitCode.WARNING))
        if self.state in (HostState.UNKNOWN, HostState.NEVER_POLLED):
            return worst((alerts, ExitCode.UNKNOWN))
        return alerts


@dataclass(frozen=True)
class FleetStatus:
    """What every front end renders: per-host rows, the watcher's own alerts, silences, backlog."""

    now: float
    """When this status was built."""
    last_pass_at: float | None
    """When the latest pass over this state ran (any selection of hosts), or None if none ever did."""
    cadence_s: float
    """The usual time between passes; a poll older than ``stale_after_s`` is not current."""
    stale_after_s: float
    hosts: tuple[HostStatus, ...]
    watcher: tuple[Alert, ...] = ()
    """Alerts about the watcher itself (``watcher_offline``)."""
    silences: tuple[Silence, ...] = ()
    """Silences in force and acks whose episode is open, oldest first."""
    backlog: tuple[Backlog, ...] = field(default=())
    """Undelivered notifications per target."""
    pending: tuple[str, ...] = ()
    """Hosts the pass this status follows could not poll before its deadline."""

    def alerts(self) -> list[Alert]:
        """Every open alert on these hosts and on the watcher, worst first, then by host and detector."""
        found = [a for h in self.hosts for a in h.alerts] + list(self.watcher)
        return sorted(found, key=lambda a: (-a.episode.severity, a.episode.host, a.episode.detector))

    @property
    def watched(self) -> tuple[HostStatus, ...]:
        """The rows that count: enabled hosts (a disabled one is shown, not judged)."""
        return tuple(h for h in self.hosts if h.enabled)

    @property
    def watcher_offline(self) -> bool:
        """A live alert says this watcher itself cannot see (``watcher_offline``)."""
        return any(a.live and a.episode.detector in WATCHER_DETECTORS for a in self.watcher)

    @property
    def blind(self) -> bool:
        """This status cannot vouch for the fleet: the watcher is offline, no watched host was seen (none
        is watched at all: every one disabled, or none selected), or the pass ended at its deadline with
        hosts pending."""
        seen = any(h.state in _SEEN for h in self.watched)
        return self.watcher_offline or bool(self.pending) or not seen

    @property
    def code(self) -> ExitCode:
        """The monitoring-plugin exit code of what this status shows: the worst host and watcher alert,
        never OK for a host not seen; and when blind, UNKNOWN unless something is known to be CRITICAL
        (a monitor that cannot see says so, it never says "fine" or a mere WARNING)."""
        watcher = code_of(max((a.episode.severity for a in self.watcher if a.live), default=None))
        code = worst([watcher, *(h.code for h in self.watched)])
        if self.blind and code is not ExitCode.CRITICAL:
            return ExitCode.UNKNOWN
        return code

    def count(self, state: HostState) -> int:
        """How many watched hosts are in ``state``."""
        return sum(1 for h in self.watched if h.state is state)


@dataclass(frozen=True)
class StoredState:
    """What ``build`` reads: the state store's contents relevant to a status (loaded by the watcher)."""

    polls: Mapping[str, HostPoll]
    episodes: Mapping[EpisodeKey, Episode]
    """Open (reported) episodes."""
    failing_since: Mapping[str, float]
    silences: Sequence[Silence]
    backlog: Sequence[Backlog]
    recent_passes: Sequence[float]
    """When the last few passes ran, oldest first."""
    trends: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """host -> metric -> change per hour (from history)."""
    spend_today: Mapping[str, float] = field(default_factory=dict)
    """host -> USD spent today (the operator's day)."""


def build(
    entries: Sequence[HostEntry],
    stored: StoredState,
    now: float,
    *,
    interval_s: float,
    gap_factor: float,
    pending: Sequence[str] = (),
) -> FleetStatus:
    """The fleet's status at ``now`` from what the store holds; ``entries`` are the rows, in order;
    ``pending``: hosts the pass just run could not poll before its deadline.

    A poll is current while it is younger than ``gap_factor`` × the usual spacing of passes (the same
    rule that tells a laptop sleep from a short delay)."""
    usual = cadence(stored.recent_passes, interval_s)
    stale_after = gap_factor * usual
    via = {h: p.via for h, p in stored.polls.items() if p.failed_last and p.via}
    causes = inhibitions(stored.episodes, via)
    alerts_of: dict[str, list[Alert]] = {}
    for ep in stored.episodes.values():
        muted = active(stored.silences, ep.host, ep.detector, now, ep.started_at)
        alerts_of.setdefault(ep.host, []).append(Alert(ep, muted, causes.get(ep.key)))
    for found in alerts_of.values():
        found.sort(key=lambda a: (-a.episode.severity, a.episode.detector))
    waiting = set(pending)
    rows = tuple(
        _host(e, stored.polls.get(e.alias), tuple(alerts_of.get(e.alias, ())), stored, now, stale_after)
        for e in entries
    )
    # A host the pass could not reach in time: what the store holds of it is from an earlier pass.
    rows = tuple(
        replace(
            r,
            state=HostState.UNKNOWN,
            why="not polled: the pass deadline came first",
            stale=True,
            pending=True,
        )
        if r.alias in waiting
        else r
        for r in rows
    )
    return FleetStatus(
        now=now,
        last_pass_at=stored.recent_passes[-1] if stored.recent_passes else None,
        cadence_s=usual,
        stale_after_s=stale_after,
        hosts=rows,
        watcher=tuple(alerts_of.get(WATCHER, ())) + _jump_alerts(alerts_of, entries),
        silences=tuple(stored.silences),
        backlog=tuple(stored.backlog),
        pending=tuple(pending),
    )


def _jump_alerts(alerts_of: Mapping[str, list[Alert]], entries: Sequence[HostEntry]) -> tuple[Alert, ...]:
    """``jump_host_down`` on a jump host that is not itself a row, when it stands between us and a row."""
    rows = {e.alias for e in entries}
    return tuple(
        a
        for host, found in alerts_of.items()
        if host not in rows
        for a in found
        if a.episode.detector == JUMP_DOWN and rows & set(a.episode.context.get("hosts", ()))
    )


def _host(
    entry: HostEntry,
    poll: HostPoll | None,
    alerts: tuple[Alert, ...],
    stored: StoredState,
    now: float,
    stale_after: float,
) -> HostStatus:
    state, why, stale = _state(poll, alerts, now, stale_after)
    return HostStatus(
        alias=entry.alias,
        groups=entry.groups,
        enabled=entry.enabled,
        state=state,
        why=why,
        alerts=alerts,
        poll=poll,
        failing_since=stored.failing_since.get(entry.alias),
        stale=stale,
        trends=stored.trends.get(entry.alias, {}),
        spend_today_usd=stored.spend_today.get(entry.alias),
    )


def _state(
    poll: HostPoll | None, alerts: tuple[Alert, ...], now: float, stale_after: float
) -> tuple[HostState, str, bool]:
    if poll is None:
        return HostState.NEVER_POLLED, "never polled", False
    age = human_duration(max(0.0, now - poll.polled_at))
    if now - poll.polled_at > stale_after:
        return HostState.UNKNOWN, f"stale: last polled {age} ago", True
    if poll.failed_last:
        said = f"{poll.stage} failed {age} ago: {poll.message}"
        if poll.stage in _ANSWERED:
            return HostState.UNKNOWN, said, False
        return HostState.UNREACHABLE, said, False
    if poll.facts is not None and not poll.facts.understood:
        return HostState.UNKNOWN, f"answered {age} ago, not understood: {poll.facts.problem}", False
    severity = max((a.episode.severity for a in alerts), default=Severity.INFO)
    state = {Severity.CRITICAL: HostState.CRIT, Severity.WARNING: HostState.WARN}.get(severity, HostState.OK)
    return state, f"polled {age} ago", False
