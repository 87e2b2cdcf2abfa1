"""Plain constructors for snapshots and observations: unit tests pass data and ``now``, nothing else."""

from __future__ import annotations

from typing import Any

from fleetwatch.findings import Observation, PollFailure
from fleetwatch.history.model import HistorySettings
from fleetwatch.snapshot import Event, Facts, Peek, RoundLog, Snapshot

NOW = 1_800_000_000.0


def event(kind: str, ts: float, **data: Any) -> Event:
    """One supervisor event."""
    return Event(ts=ts, kind=kind, data={"event": kind, **data})


def round_events(
    n: int,
    start: float,
    *,
    exit_code: int = 0,
    duration: float = 30.0,
    timed_out: bool = False,
    gap: float = 5.0,
    first: int = 1,
) -> list[Event]:
    """``n`` complete rounds (start, exit, end) starting at ``start``."""
    out, t = [], start
    for rn in range(first, first + n):
        out.append(event("round_start", t, round_num=rn))
        t += duration
        cause = "timeout" if timed_out else "clean" if exit_code == 0 else "error"
        out.append(
            event(
                "agent_exit",
                t,
                round_num=rn,
                exit_code=exit_code,
                duration_s=duration,
                timed_out=timed_out,
                exit_cause=cause,
            )
        )
        out.append(event("round_end", t, round_num=rn))
        t += gap
    return out


def peek(
    events: list[Event] | None = None,
    *,
    budget: float | None = 1800.0,
    active: bool = True,
    rate_limit: dict[str, Any] | None = None,
) -> Peek:
    """A parsed peek document."""
    return Peek(
        schema="2.6",
        project="proj",
        status={},
        service={"active": active, "rate_limit": rate_limit},
        system={"disk_used_pct": 10.0},
        schedule=None,
        events=tuple(events or ()),
        round_budget_s=budget,
    )


def facts(*, disk: float = 40.0, time: float = NOW) -> Facts:
    """Live host facts."""
    return Facts(
        time=time,
        disk_path="/home/pi/.agent-runner/proj/logs/rounds",
        disk_used_pct=disk,
        disk_free_gb=10.0,
        mem_total_mb=4000,
        mem_available_mb=2000,
        load_1m=0.5,
    )


def snapshot(
    p: Peek | None = None,
    *,
    host: str = "pi",
    logs: dict[int, str] | None = None,
    f: Facts | None = None,
    runner: str | None = "/usr/bin/agent-runner",
    peek_error: str | None = None,
    received_at: float = NOW,
) -> Snapshot:
    """A snapshot as parse_gather would build it."""
    round_logs = tuple(
        RoundLog(f"/home/pi/.agent-runner/proj/logs/rounds/R{rn}-20261121T100000.log", NOW, tail)
        for rn, tail in (logs or {}).items()
    )
    return Snapshot(
        host=host,
        received_at=received_at,
        runner=runner,
        runner_searched="PATH",
        peek=p,
        peek_error=peek_error,
        round_logs=round_logs,
        facts=f or facts(),
    )


def observed(
    s: Snapshot | None = None,
    *,
    failure: PollFailure | None = None,
    failing_since: float | None = None,
    host: str = "pi",
    at: float = NOW,
) -> Observation:
    """An observation of one host."""
    return Observation(host=host, at=at, snapshot=s, failure=failure, failing_since=failing_since)


PEEK_FIELDS = (
    "status",
    "service",
    "system",
    "recent_events",
    "defenses",
    "current_round",
    "schedule",
    "project",
)
"""Every top-level field of agent-runner's peek document that fleetwatch reads (the hostile-input tests
give each the wrong type)."""


def retained_year(host: str, keep: HistorySettings, now: float = NOW) -> list[tuple[Any, ...]]:
    """``samples`` rows of one host polled every 60 s for a year, as the default retention keeps them:
    raw for ``keep.raw``, 5-minute rows for ``keep.five_minutes``, hourly rows for the rest."""
    rows: list[tuple[Any, ...]] = []
    for res, start, end in (
        (0, now - keep.raw, now),
        (300, now - keep.five_minutes, now - keep.raw),
        (3600, now - keep.hourly, now - keep.five_minutes),
    ):
        step = res or 60
        n = step // 60
        for i, t in enumerate(range(int(start), int(end), step)):
            values = (200 + i % 700, 4000 + i % 5000, 20000 + i % 70000, i % 400, 500 + i % 3000)
            rows.append((host, res, t, n, None, n, *values, i % 1000 - 500, i // 30, i % 4000, n, 0))
    return rows
