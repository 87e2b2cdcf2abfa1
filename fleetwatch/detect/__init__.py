"""Detectors: pure functions ``(observation, thresholds, now) -> findings``.  See docs/detectors.md."""

from __future__ import annotations

from collections.abc import Sequence

from fleetwatch.detect import breakers, host, rounds, trends
from fleetwatch.detect.base import NOT_EVALUATED, Context, Detector, Needs
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, Observation, Severity
from fleetwatch.settings import Thresholds

__all__ = ["BUILTIN", "NOT_EVALUATED", "Detector", "detect", "names"]

BUILTIN: tuple[Detector, ...] = (*host.DETECTORS, *rounds.DETECTORS, *breakers.DETECTORS, *trends.DETECTORS)
"""The built-in detectors, in the order they run: the catalogue ``detect`` gets unless given another
(the built-ins plus the user's rules).  ``docs/detectors.md`` documents each."""


def names(catalogue: Sequence[Detector] = BUILTIN) -> frozenset[str]:
    """The detector names of a catalogue (for config, silences and docs)."""
    return frozenset(d.name for d in catalogue)


def _level(obs: Observation) -> Needs:
    if obs.snapshot is not None:
        return Needs.PEEK if obs.snapshot.peek is not None else Needs.SNAPSHOT
    failure = obs.failure
    if failure is not None and failure.stage not in (Stage.RESOLVE, Stage.CONNECT):
        return Needs.HANDSHAKE
    return Needs.OBSERVATION


def detect(
    obs: Observation,
    thresholds: Thresholds,
    now: float,
    catalogue: Sequence[Detector] = BUILTIN,
    groups: tuple[str, ...] = (),
) -> tuple[list[Finding], frozenset[str]]:
    """Run every detector of ``catalogue`` this observation can feed; return findings and the names
    evaluated (a detector that answers ``NOT_EVALUATED`` is not: its episode is left as it is)."""
    level = _level(obs)
    ctx = Context(obs, thresholds, now, groups)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    for det in catalogue:
        if det.needs > level:
            continue
        try:
            found = det.fn(ctx)
        except Exception as exc:  # one broken detector must not hide the others' findings
            what = "detector" if det.source == "built-in" else f"rule ({det.source})"
            found = ctx.finding(
                det.name,
                Severity.WARNING,
                f"{what} crashed on this host's data: {exc!r}",
                "please report this with the host's `agent-runner --json peek` output"
                if det.source == "built-in"
                else "fix the rule's expression; `fleetwatch rules test` shows what it sees",
            )
        if found is NOT_EVALUATED:
            continue
        evaluated.add(det.name)
        if isinstance(found, Finding):
            findings.append(found)
    return findings, frozenset(evaluated)
