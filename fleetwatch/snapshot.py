"""What one poll learned about one host: typed, pure data.

``fleetwatch.probe.parse`` builds a ``Snapshot`` from the probe's output; detectors read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Events fleetwatch-like monitors write themselves into the supervisor's log: not signs of its life.
MONITOR_SELF_KINDS = frozenset(
    {
        "monitor_alert_emitted",
        "monitor_auto_stop_failed",
        "monitor_auto_stop_triggered",
        "monitor_remote_blip",
        "monitor_remote_giveup",
        "monitor_started",
        "detector_error",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One supervisor event from ``peek --events``."""

    ts: float
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Peek:
    """The parts of agent-runner's peek document that fleetwatch reads (detectors, rules, views); the rest
    (``defenses``, ``plugins``, … a third of a 17 KB peek) is not kept: 500 hosts' documents are alive at
    once during a pass."""

    schema: str
    project: str
    status: Mapping[str, Any]
    service: Mapping[str, Any]
    system: Mapping[str, Any]
    schedule: Mapping[str, Any] | None
    events: tuple[Event, ...]
    round_budget_s: float | None
    current_round: Mapping[str, Any] | None = None
    """The round in progress (``round_num``, ``phase``, ``started_at``, …); None between rounds."""

    def throttle(self) -> Throttle | None:
        """What peek says of the agent's provider throttling: ``service.rate_limit`` (peek 1.9+), else the
        newest ``transient_error_detected`` not followed by a recovery; None when it says nothing."""
        state = self.service.get("rate_limit")
        if isinstance(state, dict):
            return Throttle(
                parse_ts(state.get("throttled_until_epoch", state.get("reset_at_epoch"))),
                str(state.get("limit_type", state.get("classification", "rate_limit"))),
                str(state.get("agent", "agent")),
            )
        for e in reversed(self.events):
            if e.kind == "transient_error_recovered":
                return None
            if e.kind == "transient_error_detected":
                return Throttle(
                    parse_ts(e.data.get("reset_at_epoch")),
                    str(e.data.get("classification", "rate_limit")),
                    str(e.data.get("agent", "agent")),
                )
        return None


@dataclass(frozen=True)
class Throttle:
    """The agent throttled by its provider, as peek reports it."""

    until: float | None
    """When the throttling ends (epoch s, the host's clock); None when it did not say."""
    classification: str
    agent: str

    def active(self, now: float) -> bool:
        """Still throttled at ``now`` (the host's clock)."""
        return self.until is not None and self.until > now


@dataclass(frozen=True)
class RoundLog:
    """The tail of one round's log file."""

    path: str
    mtime: float
    tail: str


@dataclass(frozen=True)
class Facts:
    """Live host facts measured by the gatherer at poll time (peek's ``system`` freezes when serve dies)."""

    time: float
    disk_path: str
    disk_used_pct: float | None
    disk_free_gb: float | None
    mem_total_mb: int | None
    mem_available_mb: int | None
    load_1m: float | None


@dataclass(frozen=True)
class Snapshot:
    """Everything one poll learned about one host."""

    host: str
    received_at: float
    runner: str | None
    runner_searched: str
    peek: Peek | None
    peek_error: str | None
    round_logs: tuple[RoundLog, ...]
    facts: Facts | None
    latency_s: float | None = None
    """How long the poll took (connect + command), when the poll measured it."""
    problems: str | None = None
    """Fields the host sent that did not validate (read as null), named; None when all was well."""
    runner_version: str | None = None
    """agent-runner's version as installed on the host (``0.3.14``), when the probe could tell."""
    stale_threshold_s: float | None = None
    """``[monitor] supervisor_stale_threshold_s`` of the project's agent-runner.toml, when it sets one
    (0: the project disables ``supervisor_stale``)."""

    def disk(self) -> tuple[float, str] | None:
        """Disk use (%) of the filesystem holding the runner's logs and where it was measured.

        Live facts first; without them (no Python on the host?) peek's own figure, frozen since the last
        round boundary."""
        if self.facts is not None and self.facts.disk_used_pct is not None:
            return self.facts.disk_used_pct, self.facts.disk_path
        value = self.peek.system.get("disk_used_pct") if self.peek is not None else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), "peek system.disk_used_pct (last round)"
        return None

    def supervised_events(self) -> tuple[Event, ...]:
        """Supervisor events, oldest first, without the ones monitors wrote themselves."""
        events = self.peek.events if self.peek is not None else ()
        return tuple(e for e in events if e.kind not in MONITOR_SELF_KINDS)

    @property
    def remote_time(self) -> float:
        """The host's own clock at poll time (ours when it did not say)."""
        return self.facts.time if self.facts is not None else self.received_at


def parse_ts(value: Any) -> float | None:
    """ISO-8601 (agent-runner writes ``…Z``) or epoch seconds -> epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not -32503680000 < value < 32503680000:  # also NaN; a huge int would not even become a float
            return None
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    else:
        return None
    # A poisoned epoch (NaN, year 5000) must not crash whoever formats it later.
    return ts if 0 <= ts < 32503680000 else None
