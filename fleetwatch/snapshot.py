"""What one poll learned about one host: typed, pure data.

``fleetwatch.probe.parse`` builds a ``Snapshot`` from the probe's output; detectors read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Event:
    """One supervisor event from ``peek --events``."""

    ts: float
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Peek:
    """The parts of agent-runner's peek document the detectors read; ``raw`` keeps the rest."""

    schema: str
    project: str
    status: Mapping[str, Any]
    service: Mapping[str, Any]
    system: Mapping[str, Any]
    schedule: Mapping[str, Any] | None
    events: tuple[Event, ...]
    round_budget_s: float | None
    raw: Mapping[str, Any] = field(repr=False)


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


def parse_ts(value: Any) -> float | None:
    """ISO-8601 (agent-runner writes ``…Z``) or epoch seconds -> epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
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
