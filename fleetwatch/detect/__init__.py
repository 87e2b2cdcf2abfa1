"""Detectors: pure functions ``(observation, thresholds, now) -> findings``.  See docs/detectors.md."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from fleetwatch.detect import breakers, host, rounds, trends
from fleetwatch.detect.base import NOT_EVALUATED, Context, Detector, Needs
from fleetwatch.errors import Stage
from fleetwatch.findings import Finding, Observation, Severity
from fleetwatch.settings import Thresholds

__all__ = ["BUILTIN", "NOT_EVALUATED", "Detected", "Detector", "RuleProblem", "detect", "names"]

SLOW_RULE_S = 0.005
"""A rule taking longer than this on one host is reported (a usual one takes ~20 µs)."""

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


class RuleProblem(NamedTuple):
    """A user rule that failed or was slow on one host (reported once per rule, host and kind)."""

    rule: str
    host: str
    kind: str
    """``failed`` or ``slow``."""
    message: str


class Detected(NamedTuple):
    """What the detectors made of one observation."""

    findings: list[Finding]
    evaluated: frozenset[str]
    """The detectors that had what they read (the others' episodes are left as they are)."""
    problems: tuple[RuleProblem, ...] = ()
    """Rules that raised or were slow on this host."""


def detect(
    obs: Observation,
    thresholds: Thresholds,
    now: float,
    catalogue: Sequence[Detector] = BUILTIN,
    groups: tuple[str, ...] = (),
) -> Detected:
    """Run every detector of ``catalogue`` this observation can feed.

    A built-in that raises becomes a warning on the host (a bug to report, with the data that caused
    it).  A user's rule that raises is contained: not evaluated on this host, and a problem for the
    operator naming the rule, the host and the error; one that takes longer than ``SLOW_RULE_S`` is
    reported too (rules run once per host per pass)."""
    level = _level(obs)
    ctx = Context(obs, thresholds, now, groups)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    problems: list[RuleProblem] = []
    for det in catalogue:
        if det.needs > level:
            continue
        rule = det.source != "built-in"
        started = time.perf_counter() if rule else 0.0
        try:
            found = det.fn(ctx)
        except Exception as exc:  # one broken detector must not hide the others' findings
            if rule:
                problems.append(
                    RuleProblem(
                        det.name,
                        obs.host,
                        "failed",
                        f"rule {det.name} ({det.source}) failed on {obs.host}: {_error(exc)}; "
                        "not evaluated there (`fleetwatch rules test` shows what it sees)",
                    )
                )
                continue
            found = ctx.finding(
                det.name,
                Severity.WARNING,
                f"detector crashed on this host's data: {exc!r}",
                "please report this with the host's `agent-runner --json peek` output",
            )
        if rule and (took := time.perf_counter() - started) > SLOW_RULE_S:
            problems.append(
                RuleProblem(
                    det.name,
                    obs.host,
                    "slow",
                    f"rule {det.name} ({det.source}) took {took * 1000:.0f} ms on {obs.host} "
                    "(a rule usually takes well under 1 ms): simplify its `when`",
                )
            )
        if found is NOT_EVALUATED:
            continue
        evaluated.add(det.name)
        if isinstance(found, Finding):
            findings.append(found)
    return Detected(findings, frozenset(evaluated), tuple(problems))


def _error(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
