"""Opt-in remote actions: auto-stop of agent-runner when chosen detectors keep firing.

- ``plan``: pure guards (consecutive polls, one stop per episode, the fleet breaker).
- ``audit``: the ``actions`` table in the state database and the append-only ``audit.log``.
- ``stop``: the SSH edge: ``agent-runner [--config C] stop`` and a fresh peek to verify.

``run_auto_stop`` is what front ends call after each pass; they notify the outcomes it returns.
``run_manual_stop`` is a stop a person asked for (the TUI's ``s``), on the same audited path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch.actions.audit import Audit
from fleetwatch.actions.plan import (
    HOUR_S,
    MANUAL,
    AuditRecord,
    AutoStopPolicy,
    Outcome,
    StopPlan,
    plan_stops,
)
from fleetwatch.basics import whoami
from fleetwatch.settings import DEFAULT_TIMEOUT
from fleetwatch.snapshot import Snapshot

if TYPE_CHECKING:
    import sqlite3

    from fleetwatch.actions.stop import ActionOutcome
    from fleetwatch.episodes import Episode, EpisodeKey
    from fleetwatch.findings import PollFailure
    from fleetwatch.inventory.model import Host
    from fleetwatch.transport import Transport

__all__ = [
    "MANUAL",
    "ActionOutcome",
    "AuditRecord",
    "AutoStopPolicy",
    "Outcome",
    "StopPlan",
    "run_auto_stop",
    "run_manual_stop",
]

ABANDONED_S = 300.0
"""A row still ``started`` this long is from a fleetwatch that died mid-stop: re-verify it."""


def __getattr__(name: str) -> object:
    # ActionOutcome lives with the SSH edge; importing it lazily keeps ``fleetwatch.actions.plan``
    # loadable without asyncssh (the import-hygiene rule for pure modules).
    if name == "ActionOutcome":
        from fleetwatch.actions.stop import ActionOutcome

        return ActionOutcome
    raise AttributeError(name)


async def run_auto_stop(
    transport: Transport,
    store_conn: sqlite3.Connection,
    hosts: Sequence[Host],
    snapshots: Mapping[str, Snapshot | PollFailure | None],
    episodes: Mapping[EpisodeKey, Episode],
    policy: AutoStopPolicy,
    *,
    dry_run: bool,
    now: float,
    state_dir: Path,
    report: Callable[[str], None],
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ActionOutcome]:
    """Plan, claim (audited), stop concurrently and re-verify earlier unsettled stops; return every outcome.

    ``snapshots``: this pass's poll result per host; ``episodes``: ``PassResult.episodes``; ``report``
    gets one line per eligible stop held back.  Call it after the pass's transaction, not inside one.
    """
    from fleetwatch.actions import stop  # the SSH edge, loaded only when something may run

    audit = Audit(store_conn, state_dir)
    by_alias = {h.alias: h for h in hosts}
    fresh = {alias: s for alias, s in snapshots.items() if isinstance(s, Snapshot)}
    # Hosts outside this run (``--host x``) are neither planned nor explained.
    mine = {key: ep for key, ep in episodes.items() if key[0] in by_alias}
    # Only evidence that passed validation acts: a host whose data this pass did not validate is held.
    doubtful = {alias for alias, snap in fresh.items() if snap.peek_error is not None or snap.problems}
    distrusted = [
        f"{h} {d}: auto-stop held back: the host's data did not validate this pass (snapshot_invalid)"
        for (h, d) in mine
        if h in doubtful and d in policy.on
    ]
    mine = {key: ep for key, ep in mine.items() if key[0] not in doubtful}
    who = whoami()
    claims: list[tuple[AuditRecord, StopPlan]] = []
    with audit.transaction():
        oldest = min((ep.started_at for ep in mine.values()), default=now)
        recent = audit.since(min(now - HOUR_S, oldest))
        polled = {alias: snap.received_at for alias, snap in fresh.items()}
        plans, held = plan_stops(mine, policy, recent, now, polled=polled, dry_run=dry_run)
        for plan in plans:
            claims.append(
                (audit.add(_draft(plan, by_alias[plan.host], fresh.get(plan.host), who, dry_run)), plan)
            )
        pending = [
            rec
            for rec in audit.unsettled()
            if rec.host in by_alias
            and (rec.outcome is not Outcome.STARTED or now - rec.started_at > ABANDONED_S)
        ]
    for line in distrusted + held:
        report(line)
    for rec, _ in claims:
        if not rec.dry_run:
            audit.log(rec, "claimed", rec.started_at)  # on record before anything runs on the host

    jobs = [
        stop.execute(transport, by_alias[p.host], fresh.get(p.host), p, dry_run=dry_run, timeout=timeout)
        for _, p in claims
    ]
    jobs += [
        stop.reverify(
            transport,
            by_alias[rec.host],
            rec,
            fresh.get(rec.host),
            now=now,
            timeout=timeout,
            deadline_s=float(policy.drain_deadline),
        )
        for rec in pending
    ]
    # Each job is bounded by the transport's hard deadline, so one bad host never holds up the others.
    results = await asyncio.gather(*jobs, return_exceptions=True)
    records = [rec for rec, _ in claims] + pending
    outcomes: list[ActionOutcome] = []
    for rec, result in zip(records, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancellation and the like are not ours to swallow
            # A bug must not leave the row "started" forever, nor hide what happened.
            detail = f"fleetwatch error: {type(result).__name__}: {result}"
            result = stop.ActionOutcome.from_record(rec, Outcome.FAILED, detail, reverified=rec in pending)
        outcomes.append(replace(result, record_id=rec.id))
    _settle(audit, records, outcomes)
    return outcomes


async def run_manual_stop(
    transport: Transport,
    store_conn: sqlite3.Connection,
    host: Host,
    snapshot: Snapshot | None,
    *,
    reason: str,
    dry_run: bool,
    state_dir: Path,
    timeout: float = DEFAULT_TIMEOUT,
) -> ActionOutcome:
    """A stop a person asked for, on the auto-stop's audited path: claimed in the ``actions`` table and
    ``audit.log`` before anything runs, run, verified by a fresh peek, settled; a draining stop is
    re-verified on later passes.  ``snapshot``: the host's latest, to name the runner it found."""
    from fleetwatch.actions import stop

    audit = Audit(store_conn, state_dir)
    plan = StopPlan(host.alias, MANUAL, reason, time.time())
    with audit.transaction():
        rec = audit.add(_draft(plan, host, snapshot, whoami(), dry_run))
    if not rec.dry_run:
        audit.log(rec, "claimed", rec.started_at)
    try:
        result = await stop.execute(transport, host, snapshot, plan, dry_run=dry_run, timeout=timeout)
    except Exception as exc:  # a bug must not leave the row "started" forever, nor hide what happened
        detail = f"fleetwatch error: {type(exc).__name__}: {exc}"
        result = stop.ActionOutcome.from_record(rec, Outcome.FAILED, detail, reverified=False)
    outcome = replace(result, record_id=rec.id)
    _settle(audit, [rec], [outcome])
    return outcome


def _draft(plan: StopPlan, host: Host, snapshot: Snapshot | None, who: str, dry_run: bool) -> AuditRecord:
    """The audit row claiming ``plan`` before anything runs (its id comes from the database)."""
    from fleetwatch.actions import stop

    return AuditRecord(
        id=0,
        host=plan.host,
        detector=plan.detector,
        episode_started_at=plan.episode_started_at,
        reason=plan.reason,
        argv=stop.stop_argv(host, snapshot),
        where=stop.where_of(host.target),
        who=who,
        started_at=time.time(),
        finished_at=None,
        outcome=Outcome.DRY_RUN if dry_run else Outcome.STARTED,
        detail="",
        dry_run=dry_run,
    )


def _settle(audit: Audit, records: Sequence[AuditRecord], outcomes: Sequence[ActionOutcome]) -> None:
    """Store each record's outcome in one transaction, then append it to audit.log."""
    settled = [
        replace(rec, outcome=o.outcome, detail=o.detail, finished_at=o.finished_at)
        for rec, o in zip(records, outcomes, strict=True)
    ]
    with audit.transaction():
        for rec in settled:
            audit.update(rec)
    for rec, o in zip(settled, outcomes, strict=True):
        audit.log(rec, "re-verified" if o.reverified else "finished", o.finished_at)
