"""What the notifier sends and to whom.  Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetwatch.basics import human_duration
from fleetwatch.findings import Severity

ALL_SEVERITIES = frozenset(Severity)


@dataclass(frozen=True)
class Notification:
    """One message, composed once and delivered to every target that wants it."""

    key: str
    """Unique per message: storing the same key twice stores it once."""
    kind: str
    """``opened``, ``escalated``, ``reminded``, ``resolved``, or an ad-hoc kind (``test``, ``action``)."""
    severity: Severity
    title: str
    body: str
    hosts: tuple[str, ...]
    groups: tuple[str, ...]
    """The union of the hosts' inventory groups, matched against ``Target.groups``."""
    created_at: float
    detector: str = ""


@dataclass(frozen=True)
class Target:
    """An Apprise URL and the notifications it should receive."""

    url: str = field(repr=False)  # carries secrets: never in a repr
    """Any Apprise URL (slack://…, pagerduty://…, mailto://…, json://…).  Carries secrets: never printed."""
    severities: frozenset[Severity] = ALL_SEVERITIES
    """Severities sent to this target; default: all."""
    groups: frozenset[str] = frozenset()
    """Only notifications about hosts in one of these groups; empty means every host."""

    def __post_init__(self) -> None:
        if "://" not in self.url:
            # Not echoed: a mistyped URL is still a secret.
            raise ValueError("a notify target is not an Apprise URL (expected scheme://…, e.g. tgram://…)")
        if not self.severities:  # `severities: []` in the config file: every severity
            object.__setattr__(self, "severities", ALL_SEVERITIES)

    def wants(self, notification: Notification) -> bool:
        """Whether this target should receive ``notification``."""
        if notification.severity not in self.severities:
            return False
        return not self.groups or not self.groups.isdisjoint(notification.groups)


@dataclass(frozen=True)
class Backlog:
    """What is still waiting for one target, for ``check`` and the TUI."""

    target: str
    """The redacted URL."""
    pending: int
    failed: int
    oldest_age_s: float
    next_attempt_in_s: float
    attempts: int
    last_error: str | None
    configured: bool
    """False when the target was removed from the config: its backlog is never sent."""

    def describe(self) -> str:
        """One line for ``check`` output and stderr."""
        count = self.pending + self.failed
        text = f"{count} notification{'s' if count != 1 else ''} queued for {self.target}"
        text += f" (oldest {human_duration(self.oldest_age_s)} ago"
        if not self.configured:
            return text + "): target no longer configured, never sent; add it back or discard the backlog"
        if self.attempts:
            tries = f"{self.attempts} failed attempt{'s' if self.attempts != 1 else ''}"
            text += f", {tries}, next try in {human_duration(self.next_attempt_in_s)}"
        return text + (f"): {self.last_error}" if self.last_error else ")")


@dataclass(frozen=True)
class DeliveryStatus:
    """Where one stored notification stands with one target, for the TUI's alert log."""

    notification_id: int
    delivery_id: int | None
    """None: the notification has no delivery (suppressed, or no target wanted it)."""
    kind: str
    severity: Severity
    title: str
    hosts: tuple[str, ...]
    created_at: float
    target: str | None
    """The redacted URL (None without a delivery)."""
    state: str
    """``pending``, ``sending``, ``sent``, ``failed`` (retried at ``next_attempt_at``), ``suppressed``
    (silenced, acked or inhibited: ``note`` says by what) or ``no target`` (none wanted it)."""
    attempts: int = 0
    next_attempt_at: float | None = None
    sent_at: float | None = None
    note: str | None = None
    """The last error (redacted) of a failed delivery, or why the notification was suppressed."""
