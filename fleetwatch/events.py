"""What the watcher tells its front end, as past events with their data.  Pure.

Each event carries the fields a front end needs to show it its own way (the TUI as a table row or a
notification, the CLI as one stderr line); ``str(event)`` is the one-line text the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetwatch.basics import human_duration


@dataclass(frozen=True)
class PassFinished:
    """A pass was polled, detected and stored (``number`` counts this watcher's passes from 1)."""

    number: int
    at: float
    seconds: float
    polled: int
    transitions: int

    def __str__(self) -> str:
        return f"pass {self.number}: {self.polled} hosts in {self.seconds:.1f} s, {self.transitions} changes"


@dataclass(frozen=True)
class GapDetected:
    """The previous pass is much older than the usual spacing (sleep, suspend): failure clocks restarted."""

    seconds: float

    def __str__(self) -> str:
        return (
            f"last pass was {human_duration(self.seconds)} ago (sleep or suspend?): failure clocks restarted"
        )


@dataclass(frozen=True)
class DeliveryFailed:
    """A notification could not be sent to a target; it stays queued with the rest of that target's."""

    target: str
    """The redacted URL."""
    title: str
    error: str
    """Redacted."""
    waiting: int
    """Undelivered notifications for this target, this one included."""
    retry_in_s: float
    attempt: int

    def __str__(self) -> str:
        return (
            f"{self.error}; {self.title!r} and {self.waiting - 1} more stay queued, next try in "
            f"{human_duration(self.retry_in_s)} (attempt {self.attempt}): check that the service is up "
            "and the URL right, `fleetwatch notify-test` tries every target"
        )


@dataclass(frozen=True)
class DeliveryLapsed:
    """A send succeeded after its claim had lapsed: another run may send it again."""

    target: str
    title: str

    def __str__(self) -> str:
        return (
            f"{self.title!r} reached {self.target} after its claim lapsed; another fleetwatch run may send "
            "it again"
        )


@dataclass(frozen=True)
class DeliveriesPaused:
    """The state database was too busy to claim notifications; they stay queued for the next pass."""

    error: str

    def __str__(self) -> str:
        return f"notifications paused: state database busy ({self.error}); they stay queued for the next pass"


@dataclass(frozen=True)
class DeliveriesFlushed:
    """What one round of sending did."""

    sent: int
    failed: int

    def __str__(self) -> str:
        return f"notifications: {self.sent} sent, {self.failed} failed"


@dataclass(frozen=True)
class ActionHeld:
    """An eligible auto-stop was held back by a guard; ``why`` is the planner's explanation."""

    why: str

    def __str__(self) -> str:
        return self.why


@dataclass(frozen=True)
class ActionFinished:
    """An auto-stop ran (or was dry-run, or re-verified) with this outcome."""

    host: str
    detector: str
    outcome: str
    summary: str
    command: str
    where: str
    reverified: bool

    def __str__(self) -> str:
        return f"[STOP] {self.summary}"


@dataclass(frozen=True)
class Trouble:
    """Something the watcher could not do this pass (heartbeat, housekeeping, a user rule that failed on
    a host)."""

    what: str

    def __str__(self) -> str:
        return self.what


WatcherEvent = (
    PassFinished
    | GapDetected
    | DeliveryFailed
    | DeliveryLapsed
    | DeliveriesPaused
    | DeliveriesFlushed
    | ActionHeld
    | ActionFinished
    | Trouble
)
