"""What history keeps, as pure data: one sample per host per pass, one usage record per agent round.

Pure: no I/O.  Samples are stored as scaled integers (``Metric.scale``) so a year of a 200-host fleet
stays small; ``Metric`` is the one catalogue of what can be plotted, reported and queried.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetwatch.basics import Duration
from fleetwatch.findings import PollFailure
from fleetwatch.polls import HostFacts
from fleetwatch.snapshot import Snapshot

USAGE_EVENT = "agent_usage_recorded"


@dataclass(frozen=True)
class Metric:
    """One column of the samples table: how it is named, stored and shown."""

    name: str
    unit: str
    scale: float
    """Stored as round(value × scale) (an integer: 1–3 bytes in SQLite instead of 8)."""
    doc: str
    agg: str = "mean"
    """How a bucket folds samples: ``mean``; ``sum`` for 0/1 flags (a share of passes once divided by
    ``n``); ``max`` for counters."""

    def encode(self, value: float | None) -> int | None:
        """The stored integer, or None."""
        if value is None or not math.isfinite(value) or abs(value * self.scale) >= 2**62:
            return None  # not a number SQLite can hold (validation keeps hosts' numbers far below this)
        return round(value * self.scale)

    def decode(self, stored: float | None, n: int = 1) -> float | None:
        """Back to the value; ``n`` passes were folded into a bucket (sums become shares)."""
        if stored is None:
            return None
        return stored / self.scale / (n if self.agg == "sum" else 1)


METRICS: Mapping[str, Metric] = {
    m.name: m
    for m in (
        Metric("reachable", "ratio", 1, "1 when the poll got an answer, 0 when it failed", "sum"),
        Metric("latency_s", "s", 1000, "how long the poll took"),
        Metric("disk_used_pct", "%", 100, "disk use of the filesystem holding the runner's logs"),
        Metric("disk_free_gb", "GB", 1000, "free space there"),
        Metric("load_1m", "", 100, "1-minute load average"),
        Metric("mem_available_mb", "MB", 1, "memory available"),
        Metric("clock_offset_s", "s", 1000, "host clock minus ours"),
        Metric("round", "", 1, "the supervisor's round number", "max"),
        Metric("event_age_s", "s", 1, "age of the newest supervisor event"),
        Metric("serve_active", "ratio", 1, "1 while `agent-runner serve` runs", "sum"),
        Metric("rate_limited", "ratio", 1, "1 while the agent is throttled by its provider", "sum"),
    )
}
USAGE_METRICS = ("spend_usd", "rounds", "round_duration_s")
"""Series computed from usage records rather than samples (``fleetwatch history --metric``)."""


@dataclass(frozen=True)
class Sample:
    """One host at one pass; values in their units (None: not known this pass)."""

    host: str
    at: float
    values: Mapping[str, float | None]
    stage: str | None = None
    """The failure stage when the poll failed."""

    @classmethod
    def of(cls, host: str, result: Snapshot | PollFailure, at: float) -> Sample:
        """The sample a poll result makes."""
        if isinstance(result, PollFailure):
            return cls(host, at, {"reachable": 0.0, "latency_s": result.latency_s}, str(result.stage))
        f = HostFacts.from_snapshot(result)
        age = f.newest_event_age_s(f.received_at)
        values: dict[str, float | None] = {
            "reachable": 1.0,
            "latency_s": result.latency_s,
            "disk_used_pct": f.disk_used_pct,
            "disk_free_gb": f.disk_free_gb,
            "load_1m": f.load_1m,
            "mem_available_mb": None if f.mem_available_mb is None else float(f.mem_available_mb),
            "clock_offset_s": f.clock_offset_s,
            "round": None if f.round is None else float(f.round),
            "event_age_s": age,
            "serve_active": None if f.serve_active is None else float(f.serve_active),
            "rate_limited": None if f.rate_limited is None else float(f.rate_limited),
        }
        return cls(host, at, values)


@dataclass(frozen=True)
class Usage:
    """One ``agent_usage_recorded`` event: what one round (or phase) of the agent cost and did."""

    host: str
    round: int
    ts: float
    """The event's own timestamp (host clock): with ``round`` and ``phase``, what makes it unique."""
    phase: str
    agent: str
    model: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    tool_calls: int
    success: bool
    duration_s: float | None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0


def _money(value: Any) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number and math.isfinite(value) and value >= 0 else 0.0


def usage_of(host: str, snap: Snapshot) -> list[Usage]:
    """The usage records in a snapshot's events.  Consecutive peeks return the same events: the store
    keeps each once, by (host, round, timestamp, phase)."""
    out = []
    for e in snap.peek.events if snap.peek is not None else ():
        if e.kind != USAGE_EVENT:
            continue
        rn = e.data.get("round_num")
        if not isinstance(rn, int) or isinstance(rn, bool):
            continue
        ms = e.data.get("duration_ms")
        out.append(
            Usage(
                host=host,
                round=rn,
                ts=e.ts,
                phase=str(e.data.get("phase") or ""),
                agent=str(e.data.get("agent") or ""),
                model=str(e.data.get("model") or ""),
                cost_usd=_money(e.data.get("cost_usd")),
                input_tokens=_count(e.data.get("input_tokens")),
                output_tokens=_count(e.data.get("output_tokens")),
                cached_tokens=_count(e.data.get("cached_tokens")),
                tool_calls=_count(e.data.get("tool_call_count")),
                success=e.data.get("success") is True,
                duration_s=_money(ms) / 1000 if ms is not None else None,
            )
        )
    return out


MIN_RAW_S = 6 * 3600.0
MIN_USAGE_S = 2 * 86400.0


@dataclass(frozen=True)
class HistorySettings:
    """How long history is kept at each resolution, and the operator's day (config ``history:``)."""

    raw: Duration = Duration(48 * 3600)
    """Every pass's sample."""
    five_minutes: Duration = Duration(14 * 86400)
    """5-minute averages."""
    hourly: Duration = Duration(366 * 86400)
    """Hourly averages, and hourly and daily usage totals."""
    usage: Duration = Duration(8 * 86400)
    """Per-round usage records (what dedup and per-round plots need)."""
    timezone: str | None = None
    """IANA name (``Europe/Berlin``) of the operator's day for daily spend and budgets; default: local."""

    def __post_init__(self) -> None:
        spans = (self.raw, self.five_minutes, self.hourly, self.usage)
        ok = all(math.isfinite(v) and v > 0 for v in spans) and self.raw <= self.five_minutes <= self.hourly
        if not ok:
            raise ValueError("history: keep 0 s < raw ≤ five_minutes ≤ hourly, and usage more than 0 s")
        # The history detectors read hours of raw samples, and today's and the last 24 h's spend come from
        # the per-round records: shorter would make them quietly wrong, not smaller.
        if self.raw < MIN_RAW_S:
            raise ValueError(f"history.raw: keep at least {MIN_RAW_S / 3600:.0f} h (detectors read hours)")
        if self.usage < MIN_USAGE_S:
            raise ValueError(f"history.usage: keep at least {MIN_USAGE_S / 86400:.0f} d (today's spend)")
        if self.timezone is not None:
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"history.timezone: unknown timezone {self.timezone!r}") from None

    @property
    def tiers(self) -> Sequence[tuple[int, float]]:
        """(resolution in seconds, how long it is kept) from finest to coarsest; 0 is raw."""
        return ((0, self.raw), (300, self.five_minutes), (3600, self.hourly))

    def day(self, ts: float) -> str:
        """The operator's calendar day of ``ts`` (``2026-11-30``)."""
        if self.timezone is None:
            return datetime.fromtimestamp(ts).date().isoformat()
        return datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(self.timezone)).date().isoformat()

    def stamp(self, ts: float, *, utc: bool = False) -> str:
        """``2026-11-30 13:04 CET`` in the operator's timezone (``utc``: ``2026-11-30 12:04 UTC``), for the
        text of ``history`` and ``report`` (JSON stays ISO UTC)."""
        if utc:
            moment = datetime.fromtimestamp(ts, zoneinfo.ZoneInfo("UTC"))
        elif self.timezone is not None:
            moment = datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(self.timezone))
        else:
            moment = datetime.fromtimestamp(ts).astimezone()
        return moment.strftime("%Y-%m-%d %H:%M %Z")

    def day_start(self, ts: float) -> float:
        """When the operator's day holding ``ts`` began."""
        zone = zoneinfo.ZoneInfo(self.timezone) if self.timezone is not None else None
        moment = datetime.fromtimestamp(ts, zone) if zone else datetime.fromtimestamp(ts)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True)
class Spend:
    """A host's spend as detectors and views need it."""

    today_usd: float
    """Since the start of the operator's day."""
    last_hour_usd: float
    baseline_usd_per_hour: float | None
    """The usual hourly spend over the week before the last hour (hours with any usage), or None
    when there is less than a day of it."""
    rounds_today: int
    last_round_at: float | None
    """Host-clock time of the newest usage record."""
    last_hour_since: float | None = None
    """Host-clock time of the first usage record of the last hour (when a burst started)."""
    rounds_last_hour: int = 0
    last_day_usd: float = 0.0
    """The last 24 hours."""
    rounds_last_day: int = 0


@dataclass(frozen=True)
class Trend:
    """A least-squares line through one metric's samples over a window."""

    n: int
    first_at: float
    last_at: float
    slope_per_s: float | None
    """Units per second; None when the samples cannot define a line."""

    @property
    def span_s(self) -> float:
        """Time between the first and the last sample."""
        return self.last_at - self.first_at


@dataclass(frozen=True)
class HostHistory:
    """What the history detectors read for one host, summarised by the store.  Pure data."""

    spend: Spend
    disk: Trend | None = None
    """Disk use over the host's ``disk_fill_window_h``."""
    polls_last_hour: int = 0
    returns_last_hour: int = 0
    """Times a failed poll was followed by an answered one within the last hour."""
    active_since: float | None = None
    """Since when every sample (up to a day back) shows serve active; None when the newest does not."""
    disk_hour_ago: float | None = None
    """Disk use (%) in the oldest sample of the last hour, when that sample is at least 50 min old."""
    shared: tuple[SharedSpend, ...] = ()
    """The budgets this host shares with others (its groups', the fleet's) and what they all spent today."""


@dataclass(frozen=True)
class SharedSpend:
    """What a group of hosts (or the whole fleet) spent today, against its budget."""

    scope: str
    """``fleet`` or ``group gpu``."""
    spent_usd: float
    budget_usd: float


def fill_rate(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope (units per second) of (time, value) points; None when there are too few."""
    if len(points) < 2:
        return None
    # Relative to the first point: epoch seconds and their mean lose the digits a slope needs, and a flat
    # series must come out exactly flat (it gave 1e-20 %/s, "full in 10^21 days").
    t0, v0 = points[0]
    rel = [(t - t0, v - v0) for t, v in points]
    n = len(rel)
    mean_t = sum(t for t, _ in rel) / n
    mean_v = sum(v for _, v in rel) / n
    spread = sum((t - mean_t) ** 2 for t, _ in rel)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in rel) / spread
