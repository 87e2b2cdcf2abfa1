"""Detectors: pure functions ``(observation, thresholds, now) -> findings``.  See docs/detectors.md."""

from __future__ import annotations

from fleetwatch.detect import breakers, host, rounds, trends  # noqa: F401  (importing registers them)
from fleetwatch.detect.base import REGISTRY, Context, Needs
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, Observation, Severity
from fleetwatch.settings import Thresholds

__all__ = ["REGISTRY", "detect"]


def _level(obs: Observation) -> Needs:
    if obs.snapshot is not None:
        return Needs.PEEK if obs.snapshot.peek is not None else Needs.SNAPSHOT
    failure = obs.failure
    if failure is not None and failure.stage not in (Stage.RESOLVE, Stage.CONNECT):
        return Needs.HANDSHAKE
    return Needs.OBSERVATION


def detect(obs: Observation, thresholds: Thresholds, now: float) -> tuple[list[Finding], frozenset[str]]:
    """Run every detector this observation can feed; return findings and the names evaluated."""
    level = _level(obs)
    ctx = Context(obs, thresholds, now)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    for det in REGISTRY.values():
        if det.needs > level:
            continue
        evaluated.add(det.name)
        try:
            found = det.fn(ctx)
        except Exception as exc:  # one broken detector must not hide the others' findings
            found = ctx.finding(
                det.name,
                Severity.WARNING,
                f"detector crashed on this host's data: {exc!r}",
                "please report this with the host's `agent-runner --json peek` output",
            )
        if found is not None:
            findings.append(found)
    return findings, frozenset(evaluated)
