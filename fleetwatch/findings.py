"""What detectors produce and what a poll observed.  Pure data."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetwatch.errors import Stage
from fleetwatch.snapshot import Snapshot

if TYPE_CHECKING:
    from fleetwatch.history.model import HostHistory


class Severity(enum.IntEnum):
    """Alert severity; ordered so ``max()`` picks the worst."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        """Lower-case name used in JSON and config."""
        return self.name.lower()

    @property
    def tag(self) -> str:
        """Short tag for text output: ``[CRIT]``."""
        return {"INFO": "[INFO]", "WARNING": "[WARN]", "CRITICAL": "[CRIT]"}[self.name]


@dataclass(frozen=True)
class Finding:
    """One detector's verdict that something is wrong on one host, now."""

    host: str
    detector: str
    severity: Severity
    message: str
    hint: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PollFailure:
    """A poll that produced no snapshot: which stage failed and why, in one line."""

    stage: Stage
    message: str
    hint: str = ""
    key_changed: bool = False
    latency_s: float | None = None
    """How long the poll took before it failed, when the poll measured it."""
    via: str | None = None
    """The ProxyJump hop that failed: the host itself was never reached (its jump host is down)."""


@dataclass(frozen=True)
class Observation:
    """One host's poll result with the persisted failure clock, as the detectors see it."""

    host: str
    at: float
    snapshot: Snapshot | None = None
    failure: PollFailure | None = None
    failing_since: float | None = None
    """When SSH to this host started failing continuously (survives restarts), or None if it works."""
    history: HostHistory | None = None
    """Recent samples and spend, for the detectors over history (None: not loaded)."""
