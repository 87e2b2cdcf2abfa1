"""The episode state machine: findings over consecutive polls -> opened / escalated / resolved.  Pure.

The same condition on consecutive polls is one episode, reported when it starts and when it
resolves, not on every poll.  An episode only resolves when its detector was *evaluated* on that
host and found nothing: a host that could not be polled keeps its disk or auth episodes open
(we do not know they are over), and hosts outside this pass's selection are left alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from fleetwatch.findings import Finding, Severity

EpisodeKey = tuple[str, str]


class Change(enum.StrEnum):
    """What happened to an episode."""

    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Episode:
    """An open alert: one detector firing on one host since ``started_at``."""

    host: str
    detector: str
    severity: Severity
    message: str
    hint: str
    context: Mapping[str, Any]
    started_at: float
    last_seen_at: float

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
    )


def advance(
    open_episodes: Mapping[EpisodeKey, Episode],
    findings: Iterable[Finding],
    evaluated: Mapping[str, frozenset[str]],
    now: float,
) -> tuple[dict[EpisodeKey, Episode], list[Transition]]:
    """Fold one pass's findings into the open episodes; return the new open set and the transitions."""
    result = dict(open_episodes)
    transitions: list[Transition] = []
    seen: set[EpisodeKey] = set()
    for finding in findings:
        key = (finding.host, finding.detector)
        seen.add(key)
        before = result.get(key)
        if before is None:
            result[key] = _from_finding(finding, now)
            transitions.append(Transition(Change.OPENED, result[key], now))
            continue
        after = replace(
            before,
            severity=finding.severity,
            message=finding.message,
            hint=finding.hint,
            context=dict(finding.context),
            last_seen_at=now,
        )
        result[key] = after
        if finding.severity > before.severity:
            transitions.append(Transition(Change.ESCALATED, after, now))
    for key, episode in open_episodes.items():
        host, detector = key
        if key not in seen and detector in evaluated.get(host, frozenset()):
            del result[key]
            transitions.append(Transition(Change.RESOLVED, episode, now))
    return result, transitions
