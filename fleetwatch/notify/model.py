"""What the notifier sends and to whom.  Pure data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fleetwatch.errors import ConfigError
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
    severities: frozenset[Severity] = ALL_SEVERITIES
    groups: frozenset[str] = frozenset()
    """Only notifications about hosts in one of these groups; empty means every host."""

    def wants(self, notification: Notification) -> bool:
        """Whether this target should receive ``notification``."""
        if notification.severity not in self.severities:
            return False
        return not self.groups or not self.groups.isdisjoint(notification.groups)


def make_target(url: str, severities: Iterable[str] = (), groups: Iterable[str] = ()) -> Target:
    """A target from config values (severity names like ``critical``); no severities means all."""
    if "://" not in url:
        # Not echoed: a mistyped URL is still a secret.
        raise ConfigError("a notify target is not an Apprise URL (expected scheme://…, e.g. tgram://…)")
    by_label = {s.label: s for s in Severity}
    chosen: set[Severity] = set()
    for name in severities:
        if name.lower() not in by_label:
            raise ConfigError(
                f"unknown severity {name!r} for a notify target (use {', '.join(sorted(by_label))})"
            )
        chosen.add(by_label[name.lower()])
    return Target(url, frozenset(chosen) or ALL_SEVERITIES, frozenset(groups))
