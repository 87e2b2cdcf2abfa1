"""What the notifier sends and to whom.  Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field

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
