"""The poll of one host: run the probe command over SSH, parse what came back.

A failed host is a value (``PollFailure`` with its stage), never an exception that ends the pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from fleetwatch.errors import HostError, HostKeyChangedError, SnapshotError, Stage
from fleetwatch.findings import PollFailure
from fleetwatch.inventory.model import Host
from fleetwatch.probe.command import gather_command
from fleetwatch.probe.parse import parse_gather
from fleetwatch.snapshot import Snapshot
from fleetwatch.transport import Transport

OnPolled = Callable[[str, Snapshot | PollFailure], None]
"""Told each host's result as soon as its poll ends (a front end shows which hosts are still out)."""


def as_failure(err: HostError, latency_s: float | None = None) -> PollFailure:
    """A host's error as the value a failed poll is."""
    return PollFailure(
        stage=err.stage,
        message=err.reason,
        hint=err.hint,
        key_changed=isinstance(err, HostKeyChangedError),
        latency_s=latency_s,
        via=err.via,
    )


async def poll_host(transport: Transport, host: Host, timeout: float) -> Snapshot | PollFailure:
    """One SSH exec on one host -> a snapshot, or the failure with its stage (with the poll's latency)."""
    started = time.monotonic()
    try:
        result = await transport.run(host.target, gather_command(host.settings), timeout)
        snapshot = parse_gather(host.alias, result.stdout, result.stderr, time.time())
    except HostError as err:
        return as_failure(err, round(time.monotonic() - started, 3))
    except Exception as exc:  # a bug met by this host's data: this host's problem, never the whole pass's
        bug = SnapshotError(
            host.alias,
            Stage.PARSE,
            f"fleetwatch could not read this host's answer ({type(exc).__name__}: {str(exc)[:160]})",
            "a fleetwatch bug: please report it with the host's `agent-runner --json peek` output",
        )
        return as_failure(bug, round(time.monotonic() - started, 3))
    return replace(snapshot, latency_s=round(result.seconds, 3))


async def poll_many(
    transport: Transport, hosts: Sequence[Host], *, timeout: float, concurrency: int
) -> dict[str, Snapshot | PollFailure]:
    """Poll hosts concurrently, at most ``concurrency`` at once; one slow host never holds up the rest."""
    results, _ = await poll_within(transport, hosts, timeout=timeout, concurrency=concurrency)
    return results


async def poll_within(
    transport: Transport,
    hosts: Sequence[Host],
    *,
    timeout: float,
    concurrency: int,
    deadline: float | None = None,
    on_polled: OnPolled | None = None,
) -> tuple[dict[str, Snapshot | PollFailure], tuple[str, ...]]:
    """``poll_many`` that stops at ``deadline`` seconds: returns what came back and the hosts still
    pending (their polls are cancelled, their connections closed); ``on_polled`` hears of each result
    as it comes."""
    gate = asyncio.Semaphore(concurrency)

    async def one(host: Host) -> Snapshot | PollFailure:
        async with gate:
            result = await poll_host(transport, host, timeout)
        if on_polled is not None:
            on_polled(host.alias, result)
        return result

    tasks = {asyncio.create_task(one(h)): h.alias for h in hosts}
    if not tasks:
        return {}, ()
    done, late = await asyncio.wait(tasks, timeout=deadline)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    results = {tasks[t]: t.result() for t in done}
    ordered = {h.alias: results[h.alias] for h in hosts if h.alias in results}
    return ordered, tuple(h.alias for h in hosts if h.alias not in results)
