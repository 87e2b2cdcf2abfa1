"""One pass over the fleet: poll every host concurrently, detect, fold into episodes, store.

Every front end (``fleetwatch --host``, ``--once``, ``demo``, later ``check`` and the TUI) drives
this; none of them holds detection logic.  A failed host is a value, never an exception.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from fleetwatch.detect import BUILTIN, Detector, RuleProblem, detect
from fleetwatch.detect import names as detector_names
from fleetwatch.episodes import Episode, EpisodeKey, Transition, advance, open_only
from fleetwatch.errors import HostError, Stage
from fleetwatch.findings import Finding, Observation, PollFailure
from fleetwatch.history.model import HostHistory, Sample, SharedSpend, usage_of
from fleetwatch.history.store import (
    due_for_rollup,
    host_histories,
    mark_rollup,
    record_samples,
    record_usage,
    roll_up,
    spent_since,
)
from fleetwatch.inventory.model import Host
from fleetwatch.probe.poll import OnPolled, as_failure, poll_within
from fleetwatch.rules.fields import data_of
from fleetwatch.settings import PassSettings, Thresholds
from fleetwatch.snapshot import Snapshot
from fleetwatch.store import Store
from fleetwatch.transport import Transport
from fleetwatch.vantage import (
    VANTAGE_DETECTORS,
    WATCHER,
    WATCHER_DETECTORS,
    Vantage,
    assess,
    inhibitions,
    jump_findings,
    watcher_finding,
)

RECENT_PASSES = 6
"""Pass times kept to learn the usual spacing (cron's period) for sleep detection."""

# A poll that failed at these stages says nothing about SSH reachability (the host answered).
_REACHED = {Stage.PARSE}


@dataclass(frozen=True)
class PassResult:
    """What one pass saw and changed."""

    observations: tuple[Observation, ...]
    findings: tuple[Finding, ...]
    transitions: tuple[Transition, ...]
    episodes: Mapping[EpisodeKey, Episode]
    """Every episode after the pass, pending ones included (see ``open_episodes``)."""
    vantage: Vantage
    seconds: float
    pending: tuple[str, ...] = ()
    """Hosts not polled before the pass's deadline (neither evaluated nor stored: unknown this pass)."""
    problems: tuple[RuleProblem, ...] = ()
    """User rules that failed or were slow on a host this pass."""

    @property
    def open_episodes(self) -> dict[EpisodeKey, Episode]:
        """The reported (opened) episodes."""
        return open_only(self.episodes)


class TransitionSink(Protocol):
    """Where transitions go inside the pass's transaction (the notification outbox)."""

    def record(
        self,
        transitions: Sequence[Transition],
        hosts: Mapping[str, Host],
        now: float,
        inhibited: Mapping[EpisodeKey, str],
    ) -> None:
        """Store what must be sent for these transitions, in the caller's transaction; ``inhibited``
        episodes (explained by a root cause) are stored as suppressed."""


def _observe(
    store: Store, alias: str, result: Snapshot | PollFailure, now: float, offline: bool
) -> Observation:
    """Update the host's failure clock and wrap the result for the detectors."""
    snapshot = result if isinstance(result, Snapshot) else None
    failure = result if isinstance(result, PollFailure) else None
    since: float | None = None
    if failure is not None and failure.via:
        return Observation(alias, now)  # its jump host is down: jump_host_down says so, not this host
    if failure is not None and failure.stage not in _REACHED and not failure.key_changed:
        if offline and failure.stage in (Stage.RESOLVE, Stage.CONNECT):
            return Observation(alias, now)  # the watcher is offline: this says nothing about the host
        since = store.record_failure(alias, now)
    elif failure is None or not failure.key_changed:
        store.record_success(alias)
    return Observation(alias, now, snapshot, failure, since)


class Settled(NamedTuple):
    """What settling a pass's results produced."""

    observations: tuple[Observation, ...]
    findings: list[Finding]
    transitions: list[Transition]
    episodes: dict[EpisodeKey, Episode]
    vantage: Vantage
    problems: tuple[RuleProblem, ...] = ()


def settle(
    store: Store,
    hosts: Sequence[Host],
    results: Mapping[str, Snapshot | PollFailure],
    now: float,
    settings: PassSettings | None = None,
    sink: TransitionSink | None = None,
    catalogue: Sequence[Detector] = BUILTIN,
    complete: bool = True,
) -> Settled:
    """Failure clocks, detectors (``catalogue``: the built-ins and the user's rules), episodes and the
    outbox, all in one write transaction.  ``complete``: every rule file loaded, so an open alert of a
    detector the catalogue no longer has (a rule removed or renamed) resolves on each host checked; when
    a rule file was skipped such alerts stay as they are (the skipped file may hold their rule)."""
    settings = settings or PassSettings()
    by_alias = {h.alias: h for h in hosts}
    with store.transaction():
        previous = store.recent_passes()
        vantage = assess(results, previous, now, settings.interval_s, settings.vantage)
        if vantage.gap_s is not None:
            store.reset_failure_clocks(now)
        store.record_polls(results, now)
        history = _record_history(store, by_alias, results, now, settings)
        observations = tuple(
            replace(_observe(store, a, r, now, vantage.offline), history=history.get(a))
            for a, r in results.items()
        )
        findings: list[Finding] = []
        evaluated: dict[str, frozenset[str]] = {WATCHER: WATCHER_DETECTORS}
        problems: list[RuleProblem] = []
        for obs in observations:
            if obs.snapshot is None and obs.failure is None:
                continue  # not evaluated at all: offline pass
            host = by_alias.get(obs.host)
            thresholds = host.settings.thresholds if host else Thresholds()
            found = detect(obs, thresholds, now, catalogue, host.groups if host else ())
            findings.extend(found.findings)
            evaluated[obs.host] = found.evaluated
            problems.extend(found.problems)
        offline = watcher_finding(vantage)
        if offline is not None:
            findings.append(offline)
        jumps, jump_checked = _jumps(store, by_alias, results, now)
        findings.extend(jumps)
        for jump, checked in jump_checked.items():
            evaluated[jump] = evaluated.get(jump, frozenset()) | checked
        before = store.episodes()
        if complete:
            _retire(before, evaluated, detector_names(catalogue) | VANTAGE_DETECTORS)
        after, transitions = advance(before, findings, evaluated, now, settings.policy)
        store.save_episodes(before, after)
        store.add_transitions(transitions)
        _save_fields(store, by_alias, observations, {t.episode.host for t in transitions}, now)
        if sink is not None:
            via = {a: r.via for a, r in results.items() if isinstance(r, PollFailure) and r.via}
            sink.record(transitions, by_alias, now, inhibitions(open_only(after), via))
        store.set_meta("recent_passes", json.dumps([*previous, now][-RECENT_PASSES:]))
    return Settled(observations, findings, transitions, after, vantage, tuple(problems))


def _retire(
    episodes: Mapping[EpisodeKey, Episode], evaluated: dict[str, frozenset[str]], known: frozenset[str]
) -> None:
    """Count the alerts of detectors no longer known as checked on hosts checked this pass (so they
    resolve instead of staying open, unackable, for ever)."""
    for host, detector in episodes:
        if host != WATCHER and host in evaluated and detector not in known:
            evaluated[host] = evaluated[host] | {detector}


FIELDS_EVERY_S = 300.0
"""How often each host's rule fields are saved for ``fleetwatch rules test`` (not every pass: a few KB
per host), besides the passes where its alerts change."""


def _save_fields(
    store: Store,
    hosts: Mapping[str, Host],
    observations: Sequence[Observation],
    changed: Collection[str],
    now: float,
) -> None:
    """Save what the rules read on each polled host whose alerts changed this pass, or whose saved copy
    is older than ``FIELDS_EVERY_S``."""
    saved = store.fields_saved_at()
    due = [
        o
        for o in observations
        if (o.snapshot is not None or o.failure is not None)
        and (o.host in changed or now - saved.get(o.host, float("-inf")) >= FIELDS_EVERY_S)
    ]
    store.save_fields((o.host, now, data_of(o, hosts[o.host].groups if o.host in hosts else ())) for o in due)


def _record_history(
    store: Store,
    hosts: Mapping[str, Host],
    results: Mapping[str, Snapshot | PollFailure],
    now: float,
    settings: PassSettings,
) -> dict[str, HostHistory]:
    """This pass's samples and new usage records, rolled up hourly; each host's recent history back."""
    conn, kept = store.connection, settings.history
    record_samples(conn, [Sample.of(alias, r, now) for alias, r in results.items()])
    usages = [u for alias, r in results.items() if isinstance(r, Snapshot) for u in usage_of(alias, r)]
    record_usage(conn, usages, now, kept)
    if due_for_rollup(conn, now):
        roll_up(conn, now, kept)
        mark_rollup(conn, now)
    windows = {
        a: (hosts[a].settings.thresholds if a in hosts else Thresholds()).disk_fill_window_h * 3600
        for a in results
    }
    return _with_budgets(host_histories(conn, windows, now, kept), hosts, settings, conn, now)


def _with_budgets(
    histories: dict[str, HostHistory],
    hosts: Mapping[str, Host],
    settings: PassSettings,
    conn: sqlite3.Connection,
    now: float,
) -> dict[str, HostHistory]:
    """Each host's history with the shared budgets it is under: the fleet's (every host that spent today,
    from the store, whatever this run selected) and its groups' (their hosts in this run)."""
    budgets = settings.budgets
    if not budgets.fleet and not budgets.groups:
        return histories
    fleet = spent_since(conn, settings.history.day_start(now)) if budgets.fleet else 0.0
    budgeted = {
        a: [g for g in hosts[a].groups if g in budgets.groups] if a in hosts else [] for a in histories
    }
    groups: dict[str, float] = {}
    for alias, h in histories.items():
        for group in budgeted[alias]:
            groups[group] = groups.get(group, 0.0) + h.spend.today_usd
    out = {}
    for alias, h in histories.items():
        mine = [SharedSpend(f"group {g}", groups[g], budgets.groups[g]) for g in budgeted[alias]]
        if budgets.fleet:
            mine.append(SharedSpend("fleet", fleet, budgets.fleet))
        out[alias] = replace(h, shared=tuple(mine))
    return out


def _jumps(
    store: Store, hosts: Mapping[str, Host], results: Mapping[str, Snapshot | PollFailure], now: float
) -> tuple[list[Finding], dict[str, frozenset[str]]]:
    """``jump_host_down`` for each ProxyJump hop that failed, on the hop's own failure clock."""
    used = {alias: h.target.jumps for alias, h in hosts.items() if alias in results}
    down = {r.via for r in results.values() if isinstance(r, PollFailure) and r.via}
    failed_directly = {a for a, r in results.items() if isinstance(r, PollFailure)}
    since: dict[str, float] = {}
    for jump in {j for js in used.values() for j in js} | down:
        if jump in down:
            since[jump] = store.record_failure(jump, now)
        elif jump not in failed_directly:
            store.record_success(jump)
    tolerance = {
        j: (hosts[j].settings.thresholds if j in hosts else Thresholds()).remote_failure_tolerance_s
        for j in down
    }
    return jump_findings(results, used, since, tolerance, now)


@dataclass(frozen=True)
class Polled:
    """What one pass's polling brought back, before it is settled into the state store."""

    results: Mapping[str, Snapshot | PollFailure]
    pending: tuple[str, ...]
    """Hosts not polled before the deadline."""
    at: float
    """When the polling ended (the pass's time)."""
    seconds: float


async def poll_fleet(
    transport: Transport,
    hosts: Sequence[Host],
    *,
    unresolved: Mapping[str, HostError] | None = None,
    settings: PassSettings | None = None,
    on_polled: OnPolled | None = None,
) -> Polled:
    """Poll ``hosts`` concurrently within the pass's deadline; hosts that failed to resolve count as
    failed polls.  ``on_polled`` hears of each host's result as its poll ends (before the pass settles)."""
    settings = settings or PassSettings()
    started = time.monotonic()
    reachable = [h for h in hosts if h.alias not in (unresolved or {})]
    results: dict[str, Snapshot | PollFailure] = {
        alias: as_failure(err) for alias, err in (unresolved or {}).items()
    }
    polled, pending = await poll_within(
        transport,
        reachable,
        timeout=settings.timeout,
        concurrency=settings.concurrency,
        deadline=settings.deadline,
        on_polled=on_polled,
    )
    results.update(polled)
    return Polled(results, pending, time.time(), time.monotonic() - started)


def settle_polled(
    store: Store,
    hosts: Sequence[Host],
    polled: Polled,
    settings: PassSettings | None = None,
    sink: TransitionSink | None = None,
    catalogue: Sequence[Detector] = BUILTIN,
    complete: bool = True,
) -> PassResult:
    """Store what a pass polled (``StateError`` when the database cannot take it: the caller keeps
    ``polled`` and tries again); ``complete`` as for ``settle``."""
    s = settle(store, hosts, polled.results, polled.at, settings, sink, catalogue, complete)
    return PassResult(
        s.observations,
        tuple(s.findings),
        tuple(s.transitions),
        s.episodes,
        s.vantage,
        polled.seconds,
        polled.pending,
        s.problems,
    )


async def run_pass(
    transport: Transport,
    store: Store,
    hosts: Sequence[Host],
    *,
    unresolved: Mapping[str, HostError] | None = None,
    settings: PassSettings | None = None,
    sink: TransitionSink | None = None,
    on_polled: OnPolled | None = None,
    catalogue: Sequence[Detector] = BUILTIN,
) -> PassResult:
    """Poll ``hosts`` and settle the results."""
    polled = await poll_fleet(transport, hosts, unresolved=unresolved, settings=settings, on_polled=on_polled)
    return settle_polled(store, hosts, polled, settings, sink, catalogue)
