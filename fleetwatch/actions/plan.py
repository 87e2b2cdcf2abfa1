"""Which hosts to auto-stop this pass, and why the others were held back.  Pure: no I/O, no clock reads.

The guards, in the order they are checked for each eligible episode:

- the detector is in ``auto_stop_on`` and the episode has been reported (opened);
- the condition held on ``consecutive`` polls in a row (``Episode.hits``), the latest being this pass;
- the host was never stopped for this episode, and not already stopped while it was open;
- one stop per host per pass;
- the fleet breaker: at most ``max_per_hour`` distinct hosts stopped in the last hour, counted from
  the audit records so it holds across separate ``check`` runs.  Dry runs never count for real runs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetwatch.basics import Duration, iso, positive, require
from fleetwatch.episodes import Episode, EpisodeKey

HOUR_S = 3600.0
MANUAL = "manual"
"""The ``detector`` of a stop a person asked for (the TUI's ``s``): audited like an auto-stop, never
counted by the fleet breaker, which limits what fleetwatch does on its own."""


class Outcome(enum.StrEnum):
    """How an auto-stop ended (so far)."""

    STARTED = "started"
    """Claimed and running; a row left like this means fleetwatch died mid-stop."""
    STOPPED = "stopped"
    """A fresh peek shows serve is not running."""
    DRAINING = "draining"
    """The stop returned but serve is still alive (finishing its round, or in a rate-limit back-off)."""
    UNVERIFIED = "unverified"
    """The stop returned but the verifying peek could not tell (SSH or peek failed)."""
    FAILED = "failed"
    """The stop did not happen: SSH failure, non-zero exit, runner missing, or it never drained."""
    DRY_RUN = "dry-run"
    """Nothing was run: ``--dry-run`` said what would have been."""

    @property
    def settled(self) -> bool:
        """False while later passes must re-verify it."""
        return self not in (Outcome.STARTED, Outcome.DRAINING, Outcome.UNVERIFIED)


@dataclass(frozen=True)
class AutoStopPolicy:
    """Opt-in auto-stop: which detectors, after how many polls, the fleet breaker (``auto_stop:``)."""

    on: frozenset[str] = frozenset()
    """Detectors whose episodes stop the host's agent-runner (``auto_stop_on``); none by default."""
    consecutive: int = 2
    """Polls in a row the condition must hold before a stop (``Episode.hits``)."""
    max_per_hour: int = 3
    """The fleet breaker: at most this many distinct hosts auto-stopped in any hour."""
    drain_deadline: Duration = Duration(600)
    """A stop still draining this long after it was sent is reported failed."""

    def __post_init__(self) -> None:
        require(
            self.consecutive >= 1, f"auto_stop.consecutive must be at least 1 poll, got {self.consecutive}"
        )
        require(self.max_per_hour >= 0, f"auto_stop.max_per_hour must be 0 or more, got {self.max_per_hour}")
        ok = positive(self.drain_deadline)
        require(ok, f"auto_stop.drain_deadline must be more than 0 s, got {self.drain_deadline:g}")


@dataclass(frozen=True)
class StopPlan:
    """One host to stop, and the episode that asked for it."""

    host: str
    detector: str
    reason: str
    episode_started_at: float


@dataclass(frozen=True)
class AuditRecord:
    """One stored action (a row of the ``actions`` table)."""

    id: int
    host: str
    detector: str
    episode_started_at: float
    reason: str
    argv: tuple[str, ...]
    where: str
    who: str
    started_at: float
    finished_at: float | None
    outcome: Outcome
    detail: str
    dry_run: bool

    def for_episode(self, host: str, detector: str, started_at: float) -> bool:
        """Whether this record acted on that episode."""
        # Stored as REAL; the same float goes in and out, the tolerance only guards a future TEXT column.
        return (
            self.host == host
            and self.detector == detector
            and abs(self.episode_started_at - started_at) < 1e-3
        )


def clock(ts: float) -> str:
    """``2026-11-21 10:50:43Z`` for explanations (UTC: the reader may be anywhere)."""
    return iso(ts, sep=" ")


def hosts_stopped_since(
    recent: Sequence[AuditRecord], since: float, *, dry_run: bool = False
) -> dict[str, float]:
    """Host -> its earliest auto-stop since ``since``: what the breaker counts (dry runs only in a dry
    run; stops a person asked for never)."""
    out: dict[str, float] = {}
    for rec in recent:
        if (dry_run or not rec.dry_run) and rec.started_at >= since and rec.detector != MANUAL:
            out[rec.host] = min(rec.started_at, out.get(rec.host, rec.started_at))
    return out


_DOWN = frozenset({Outcome.STARTED, Outcome.STOPPED, Outcome.DRAINING, Outcome.UNVERIFIED})


def _prior(ep: Episode, recent: Sequence[AuditRecord], dry_run: bool) -> str | None:
    """Why an earlier stop makes another one for this episode wrong, if one does."""
    for rec in recent:
        if rec.host != ep.host or (rec.dry_run and not dry_run):
            continue
        if rec.for_episode(ep.host, ep.detector, ep.started_at):
            return f"already stopped for this episode at {clock(rec.started_at)} ({rec.outcome})"
        if rec.started_at >= ep.started_at and (rec.outcome in _DOWN or rec.dry_run):
            # serve is already down (or going) since this episode opened: a second stop adds nothing,
            # and if someone restarted it by hand since, that was on purpose.
            return f"already stopped at {clock(rec.started_at)} for {rec.detector} ({rec.outcome})"
    return None


def plan_stops(
    episodes: Mapping[EpisodeKey, Episode],
    policy: AutoStopPolicy,
    recent: Sequence[AuditRecord],
    now: float,
    *,
    polled: Mapping[str, float] | None = None,
    dry_run: bool = False,
) -> tuple[list[StopPlan], list[str]]:
    """What to stop now, and one line per eligible episode held back.

    ``polled``: host -> when this pass's answer arrived; an episode not seen since is held back (the
    host did not answer, or the detector could not be evaluated on its answer).  ``dry_run``: earlier dry runs
    count as stops, so a dry-run watcher previews pass after pass what a real one would do; a real run
    never counts them.
    """
    plans: list[StopPlan] = []
    held: list[str] = []
    need = max(1, policy.consecutive)
    stopped = hosts_stopped_since(recent, now - HOUR_S, dry_run=dry_run)
    candidates = sorted(
        (ep for ep in episodes.values() if ep.detector in policy.on),
        key=lambda ep: (ep.started_at, ep.host, ep.detector),
    )
    for ep in candidates:
        what = f"{ep.host} {ep.detector}: auto-stop held back"
        if not ep.opened:
            held.append(f"{what}: the episode is still pending (not reported yet)")
            continue
        if ep.hits < need:
            held.append(f"{what}: the condition held on {ep.hits} of {need} consecutive polls")
            continue
        if polled is not None and ep.host not in polled:
            held.append(f"{what}: the host did not answer this pass, so the condition is not current")
            continue
        if polled is not None and ep.last_seen_at < polled[ep.host]:
            held.append(f"{what}: the condition could not be checked on this pass's answer")
            continue
        prior = _prior(ep, recent, dry_run)
        if prior is not None:
            held.append(f"{what}: {prior}")
            continue
        same = next((p for p in plans if p.host == ep.host), None)
        if same is not None:
            held.append(f"{what}: already being stopped this pass for {same.detector}")
            continue
        if ep.host not in stopped and len(stopped) >= policy.max_per_hour:
            names = ", ".join(sorted(stopped)) or "none"
            nxt = f"; next slot at {clock(min(stopped.values()) + HOUR_S)}" if stopped else ""
            held.append(
                f"{what} by the fleet breaker: {len(stopped)} host(s) auto-stopped in the last hour "
                f"(max {policy.max_per_hour}): {names}{nxt}"
            )
            continue
        stopped.setdefault(ep.host, now)
        plans.append(StopPlan(ep.host, ep.detector, ep.message, ep.started_at))
    return plans, held
