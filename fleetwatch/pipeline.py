"""One pass over the fleet: poll every host concurrently, detect, fold into episodes, store.

Every front end (``fleetwatch --host``, ``--once``, ``demo``, later ``check`` and the TUI) drives
this; none of them holds detection logic.  A failed host is a value, never an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetwatch.detect import detect
from fleetwatch.episodes import Episode, EpisodeKey, Transition, advance
from fleetwatch.errors import HostError, HostKeyChangedError, Stage
from fleetwatch.findings import Finding, Observation, PollFailure
from fleetwatch.inventory.model import Host
from fleetwatch.probe import gather_command
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Snapshot, parse_gather
from fleetwatch.store import Store
from fleetwatch.transport import Transport

DEFAULT_TIMEOUT = 20.0
"""Hard deadline per host covering connect + command."""
DEFAULT_CONCURRENCY = 32
"""Hosts polled at once."""

# A poll that failed at these stages says nothing about SSH reachability (the host answered).
_REACHED = {Stage.PARSE}


@dataclass(frozen=True)
class PassResult:
    """What one pass saw and changed."""

    observations: tuple[Observation, ...]
    findings: tuple[Finding, ...]
    transitions: tuple[Transition, ...]
    open_episodes: Mapping[EpisodeKey, Episode]
    seconds: float


def _failure(err: HostError) -> PollFailure:
    return PollFailure(
        stage=err.stage, message=err.reason, hint=err.hint, key_changed=isinstance(err, HostKeyChangedError)
    )


async def poll_host(transport: Transport, host: Host, timeout: float) -> Snapshot | PollFailure:
    """One SSH exec on one host -> a snapshot, or the failure with its stage."""
    try:
        result = await transport.run(host.target, gather_command(host.settings), timeout)
        return parse_gather(host.alias, result.stdout, result.stderr, time.time())
    except HostError as err:
        return _failure(err)


async def poll_many(
    transport: Transport, hosts: Sequence[Host], *, timeout: float, concurrency: int
) -> dict[str, Snapshot | PollFailure]:
    """Poll hosts concurrently, at most ``concurrency`` at once; one slow host never holds up the rest."""
    gate = asyncio.Semaphore(concurrency)

    async def one(host: Host) -> Snapshot | PollFailure:
        async with gate:
            return await poll_host(transport, host, timeout)

    results = await asyncio.gather(*(one(h) for h in hosts))
    return {h.alias: r for h, r in zip(hosts, results, strict=True)}


def settle(
    store: Store,
    hosts: Sequence[Host],
    results: Mapping[str, Snapshot | PollFailure],
    now: float,
) -> tuple[tuple[Observation, ...], list[Finding], list[Transition], dict[EpisodeKey, Episode]]:
    """Update failure clocks, run the detectors and advance episodes, in one write transaction."""
    by_alias = {h.alias: h for h in hosts}
    with store.transaction():
        observations = []
        for alias, result in results.items():
            if isinstance(result, PollFailure) and result.stage not in _REACHED and not result.key_changed:
                since: float | None = store.record_failure(alias, now)
            else:
                if not (isinstance(result, PollFailure) and result.key_changed):
                    store.record_success(alias)
                since = None
            snapshot = result if isinstance(result, Snapshot) else None
            failure = result if isinstance(result, PollFailure) else None
            observations.append(Observation(alias, now, snapshot, failure, since))
        findings: list[Finding] = []
        evaluated: dict[str, frozenset[str]] = {}
        for obs in observations:
            host = by_alias.get(obs.host)
            found, checked = detect(obs, host.settings.thresholds if host else Thresholds(), now)
            findings.extend(found)
            evaluated[obs.host] = checked
        before = store.open_episodes()
        after, transitions = advance(before, findings, evaluated, now)
        store.save_episodes(before, after)
        store.add_transitions(transitions)
    return tuple(observations), findings, transitions, after


async def run_pass(
    transport: Transport,
    store: Store,
    hosts: Sequence[Host],
    *,
    unresolved: Mapping[str, HostError] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> PassResult:
    """Poll ``hosts`` and settle the results; hosts that failed to resolve count as failed polls."""
    started = time.monotonic()
    reachable = [h for h in hosts if h.alias not in (unresolved or {})]
    results: dict[str, Snapshot | PollFailure] = {
        alias: _failure(err) for alias, err in (unresolved or {}).items()
    }
    results.update(await poll_many(transport, reachable, timeout=timeout, concurrency=concurrency))
    observations, findings, transitions, after = settle(store, hosts, results, time.time())
    return PassResult(observations, tuple(findings), tuple(transitions), after, time.monotonic() - started)
