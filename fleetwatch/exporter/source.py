"""What ``/metrics`` renders: the latest fleet status and this process's pass counters.

Both are immutable values that the watcher's side replaces whole (one reference assignment, atomic under
the GIL) and the scraping thread only reads: no locks, no half-updated pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fleetwatch.events import DeliveriesFlushed, GapDetected, PassFinished, WatcherEvent
from fleetwatch.status import FleetStatus


@dataclass(frozen=True)
class PassStats:
    """What this process's passes did, from the watcher's events (counters start at 0 with the process)."""

    passes: int = 0
    seconds_total: float = 0.0
    last_seconds: float | None = None
    last_polled: int | None = None
    """Hosts the latest pass polled."""
    transitions: int = 0
    """Episode changes (opened, escalated, reminded, resolved) the passes stored."""
    gaps: int = 0
    """Passes that followed a gap (sleep, suspend) and restarted the failure clocks."""
    sent: int = 0
    failed: int = 0
    """Notification deliveries that succeeded / failed (a failed one stays queued and is retried)."""

    def after(self, event: WatcherEvent) -> PassStats:
        """These counters with ``event`` counted."""
        if isinstance(event, PassFinished):
            return replace(
                self,
                passes=self.passes + 1,
                seconds_total=self.seconds_total + event.seconds,
                last_seconds=event.seconds,
                last_polled=event.polled,
                transitions=self.transitions + event.transitions,
            )
        if isinstance(event, GapDetected):
            return replace(self, gaps=self.gaps + 1)
        if isinstance(event, DeliveriesFlushed):
            return replace(self, sent=self.sent + event.sent, failed=self.failed + event.failed)
        return self


@dataclass
class Exposed:
    """The status and counters a scrape renders; ``show`` and ``record`` swap in new values."""

    status: FleetStatus | None = None
    """The latest pass's status (None before the first one, when no stored status was shown either)."""
    passes: PassStats = field(default_factory=PassStats)

    def show(self, status: FleetStatus) -> None:
        """Expose ``status`` from now on."""
        self.status = status

    def record(self, event: WatcherEvent) -> None:
        """Count one of the watcher's events (pass the watcher's ``emit`` through here)."""
        self.passes = self.passes.after(event)
