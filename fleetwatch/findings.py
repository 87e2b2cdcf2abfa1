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

    def __post_init__(self) -> None:
        # Hosts' own words reach messages (an event's reason, a path): one line each, and bounded, so a host
        # can neither forge an extra alert line nor push megabytes into every notification and the store.
        object.__setattr__(self, "message", one_line(self.message, MAX_MESSAGE))
        object.__setattr__(self, "hint", one_line(self.hint, MAX_MESSAGE))
        if any(isinstance(v, str) and len(v) > MAX_CONTEXT for v in self.context.values()):
            cut = {k: v[: MAX_CONTEXT - 1] + "…" if isinstance(v, str) and len(v) > MAX_CONTEXT else v
                   for k, v in self.context.items()}  # fmt: skip
            object.__setattr__(self, "context", cut)


MAX_MESSAGE = 600
"""Characters of an alert's message (and hint) kept."""
MAX_CONTEXT = 8192
"""Characters of one text value in an alert's context (its evidence) kept."""


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (line breaks and tabs become spaces), cut to ``limit`` characters."""
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
