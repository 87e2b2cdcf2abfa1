"""The latest poll of each host, as the state store keeps it for every view that must not poll.  Pure.

``HostFacts`` is the summary of one answered poll (the values a status row, an exporter or a history
sample shows); ``HostPoll`` adds when the host last answered and when and how it last failed, so a host
that stopped answering keeps its last good values with their age.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from fleetwatch.snapshot import Peek, Snapshot


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _throttled(peek: Peek, now: float) -> bool:
    """Throttled at ``now`` as ``rate_limit_active`` judges it (one reading of peek for both)."""
    throttle = peek.throttle()
    return throttle is not None and throttle.active(now)


@dataclass(frozen=True)
class HostFacts:
    """What one answered poll said, in the units views show; None where the host did not say."""

    received_at: float
    remote_time: float
    """The host's clock at poll time; event ages are measured on it (immune to skew)."""
    understood: bool
    """False when the probe answered but agent-runner's peek could not be read (``problem`` says why)."""
    problem: str | None = None
    runner: str | None = None
    runner_version: str | None = None
    project: str | None = None
    round: int | None = None
    phase: str | None = None
    running: bool | None = None
    """A round is in progress."""
    serve_active: bool | None = None
    rate_limited: bool | None = None
    """The agent is throttled by its provider (peek's ``service.rate_limit`` with a reset ahead)."""
    newest_event: str | None = None
    newest_event_at: float | None = None
    """Remote timestamp of the newest supervisor event (monitor-written ones left out)."""
    disk_used_pct: float | None = None
    disk_free_gb: float | None = None
    disk_path: str | None = None
    load_1m: float | None = None
    mem_available_mb: int | None = None
    mem_total_mb: int | None = None

    @property
    def clock_offset_s(self) -> float:
        """Host clock minus ours at poll time (positive: the host is ahead)."""
        return self.remote_time - self.received_at

    def newest_event_age_s(self, now: float) -> float | None:
        """Age of the newest supervisor event at ``now``, measured on the host's clock."""
        if self.newest_event_at is None:
            return None
        return max(0.0, self.remote_time - self.newest_event_at + (now - self.received_at))

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> HostFacts:
        """The summary of one snapshot."""
        peek = snap.peek
        status = peek.status if peek is not None else {}
        current = peek.current_round if peek is not None else None
        current = current if isinstance(current, dict) else {}
        events = snap.supervised_events()
        disk = snap.disk()
        facts = snap.facts
        load = facts.load_1m if facts is not None else None
        if load is None and peek is not None:
            load = _number(peek.system.get("load_1m"))
        round_num = _int(current.get("round_num"))
        phase = current.get("phase")
        running = status.get("running")
        active = peek.service.get("active") if peek is not None else None
        return cls(
            received_at=snap.received_at,
            remote_time=snap.remote_time,
            understood=snap.peek_error is None and snap.problems is None,
            problem=snap.peek_error or snap.problems,
            runner=snap.runner,
            runner_version=snap.runner_version,
            project=peek.project or None if peek is not None else None,
            round=round_num if round_num is not None else _int(status.get("round_num")),
            phase=str(phase) if isinstance(phase, str | int) else None,
            running=running if isinstance(running, bool) else None,
            serve_active=active if isinstance(active, bool) else None,
            rate_limited=_throttled(peek, snap.remote_time) if peek is not None else None,
            newest_event=events[-1].kind if events else None,
            newest_event_at=events[-1].ts if events else None,
            disk_used_pct=disk[0] if disk else None,
            disk_free_gb=facts.disk_free_gb if facts is not None else None,
            disk_path=disk[1] if disk else None,
            load_1m=load,
            mem_available_mb=facts.mem_available_mb if facts is not None else None,
            mem_total_mb=facts.mem_total_mb if facts is not None else None,
        )

    def to_json(self) -> str:
        """Compact JSON for the store."""
        # Every field is a scalar: a shallow read (dataclasses.asdict deep-copies, 10x the cost at 500 hosts).
        values = ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))
        return json.dumps({k: v for k, v in values if v is not None})

    @classmethod
    def from_json(cls, text: str) -> HostFacts | None:
        """Back from the store; None when the stored record is unreadable (never an exception)."""
        try:
            raw = json.loads(text)
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in raw.items() if k in names})
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class HostPoll:
    """The latest poll of one host, with its last good facts."""

    host: str
    polled_at: float
    ok_at: float | None = None
    """The latest poll the probe answered (its data may still have been unreadable)."""
    failed_at: float | None = None
    stage: str | None = None
    """The latest failure's stage (``connect``, ``auth``, ``parse`` …)."""
    message: str | None = None
    hint: str | None = None
    latency_s: float | None = None
    facts: HostFacts | None = None
    via: str | None = None
    """The jump host the latest failure stopped at (the host itself was not reached)."""

    @property
    def failed_last(self) -> bool:
        """The latest poll failed (the facts, if any, are from an earlier one)."""
        return self.failed_at is not None and (self.ok_at is None or self.failed_at > self.ok_at)
