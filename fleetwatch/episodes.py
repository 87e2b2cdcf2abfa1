"""The episode state machine: findings over consecutive polls -> opened / escalated / reminded / resolved.

Pure: data and ``now`` in, new state and transitions out.

- The same condition on consecutive polls is one episode, reported when it opens and when it
  resolves, not on every poll.
Damping (``for`` / ``clear``) is what the config file's ``damping:`` section sets per detector:

- ``for``: a detector may need its condition on N consecutive polls before the episode opens; until
  then the episode is *pending* (stored, counted, never reported).
- ``clear``: an open episode resolves only after its detector found nothing on M consecutive
  evaluated polls, so a short recovery neither closes nor reopens it.
- An episode only counts a poll when its detector was *evaluated* on that host: a host that could
  not be polled keeps its disk or auth episodes as they are, and hosts outside this pass are left alone.
- Open critical episodes are reminded every ``repeat_interval`` seconds (0 = never).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleetwatch.basics import Duration, require, yaml_key
from fleetwatch.findings import Finding, Severity

EpisodeKey = tuple[str, str]


class Change(enum.StrEnum):
    """What happened to an episode."""

    OPENED = "opened"
    ESCALATED = "escalated"
    REMINDED = "reminded"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Damping:
    """Flap damping for one detector."""

    for_polls: int = field(default=1, metadata=yaml_key("for"))
    """Consecutive polls with the condition before the episode opens (``for``)."""
    clear_polls: int = field(default=1, metadata=yaml_key("clear"))
    """Consecutive clean evaluated polls before an open episode resolves (``clear``)."""
    for_s: float = field(default=0.0, metadata={"internal": True})
    """… and the condition must have held this long (a rule's ``for: 10m``)."""
    clear_s: float = field(default=0.0, metadata={"internal": True})
    """… and it must have been clear this long (a rule's ``clear: 30m``)."""

    def __post_init__(self) -> None:
        if self.for_polls < 1 or self.clear_polls < 1:
            raise ValueError("`for` and `clear` count polls: at least 1")
        if (
            not (math.isfinite(self.for_s) and math.isfinite(self.clear_s))
            or self.for_s < 0
            or self.clear_s < 0
        ):
            raise ValueError("`for` and `clear` durations must be 0 s or more")


@dataclass(frozen=True)
class Policy:
    """How findings become episodes: per-detector damping and reminders."""

    damping: Mapping[str, Damping] = field(default_factory=dict, metadata=yaml_key("damping", "detectors"))
    """Per-detector damping, e.g. ``supervisor_stale: {for: 2, clear: 2}`` (``detectors:`` in 0.1.0)."""
    default: Damping = field(default_factory=Damping, metadata=yaml_key("default_damping", "default_rule"))
    """Damping for detectors not listed (``default_rule:`` in 0.1.0)."""
    repeat_interval: Duration = Duration(4 * 3600)
    """Remind still-open critical episodes this often; 0 disables reminders."""

    def __post_init__(self) -> None:
        ok = math.isfinite(self.repeat_interval) and self.repeat_interval >= 0
        require(ok, f"repeat_interval must be 0 (never) or more, got {self.repeat_interval:g}")

    def damping_for(self, detector: str) -> Damping:
        """The damping of ``detector``."""
        return self.damping.get(detector, self.default)


@dataclass(frozen=True)
class Episode:
    """One detector firing on one host since ``started_at`` (pending until ``opened``)."""

    host: str
    detector: str
    severity: Severity
    message: str
    hint: str
    context: Mapping[str, Any]
    started_at: float
    last_seen_at: float
    opened: bool = True
    """False while the condition has not yet held for the detector's ``for`` polls."""
    hits: int = 1
    """Consecutive evaluated polls on which the condition held (auto-stop guards read this)."""
    misses: int = 0
    """Consecutive evaluated polls without the condition while open (towards ``clear``)."""
    reminded_at: float | None = None
    """When the last reminder went out (or the episode opened)."""

    @property
    def key(self) -> EpisodeKey:
        """(host, detector)."""
        return (self.host, self.detector)


@dataclass(frozen=True)
class Transition:
    """A stored change of an episode; notifications are sent from these, never from detectors."""

    change: Change
    episode: Episode
    at: float


def _from_finding(finding: Finding, now: float) -> Episode:
    return Episode(
        host=finding.host,
        detector=finding.detector,
        severity=finding.severity,
        message=finding.message,
        hint=finding.hint,
        context=dict(finding.context),
        started_at=now,
        last_seen_at=now,
        opened=False,
        hits=0,
        reminded_at=None,
    )


def _seen(before: Episode, finding: Finding, now: float, policy: Policy) -> tuple[Episode, Change | None]:
    """The episode after its condition held again on this poll, and what (if anything) to report."""
    ep = replace(
        before,
        severity=finding.severity,
        message=finding.message,
        hint=finding.hint,
        context=dict(finding.context),
        last_seen_at=now,
        hits=before.hits + 1,
        misses=0,
    )
    if not ep.opened:
        damping = policy.damping_for(ep.detector)
        if ep.hits < damping.for_polls or now - ep.started_at < damping.for_s:
            return ep, None
        return replace(ep, opened=True, reminded_at=now), Change.OPENED
    if finding.severity > before.severity:
        return replace(ep, reminded_at=now), Change.ESCALATED
    due = policy.repeat_interval > 0 and now - (ep.reminded_at or ep.started_at) >= policy.repeat_interval
    if ep.severity is Severity.CRITICAL and due:
        return replace(ep, reminded_at=now), Change.REMINDED
    return ep, None


def advance(
    episodes: Mapping[EpisodeKey, Episode],
    findings: Iterable[Finding],
    evaluated: Mapping[str, frozenset[str]],
    now: float,
    policy: Policy | None = None,
) -> tuple[dict[EpisodeKey, Episode], list[Transition]]:
    """Fold one pass's findings into the episodes; return the new set and the transitions to report."""
    policy = policy or Policy()
    result = dict(episodes)
    transitions: list[Transition] = []
    seen: set[EpisodeKey] = set()
    for finding in findings:
        key = (finding.host, finding.detector)
        seen.add(key)
        before = result.get(key) or _from_finding(finding, now)
        result[key], change = _seen(before, finding, now, policy)
        if change is not None:
            transitions.append(Transition(change, result[key], now))
    for key, ep in episodes.items():
        host, detector = key
        if key in seen or detector not in evaluated.get(host, frozenset()):
            continue
        if not ep.opened:
            del result[key]  # a pending condition that went away was never reported
            continue
        misses = ep.misses + 1
        damping = policy.damping_for(detector)
        if misses < damping.clear_polls or now - ep.last_seen_at < damping.clear_s:
            result[key] = replace(ep, misses=misses, hits=0)
            continue
        del result[key]
        transitions.append(Transition(Change.RESOLVED, ep, now))
    return result, transitions


def open_only(episodes: Mapping[EpisodeKey, Episode]) -> dict[EpisodeKey, Episode]:
    """The episodes that have been reported (pending ones left out)."""
    return {k: e for k, e in episodes.items() if e.opened}
