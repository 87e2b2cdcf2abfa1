"""The summary of a period per host: uptime, rounds, success rate, spend, alerts and how long each was
open (``fleetwatch report``, and the scheduled report sent through the notification targets)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleetwatch.basics import human_duration, iso


@dataclass(frozen=True)
class AlertTime:
    """One detector on one host over the period: how often it opened and how long it was open."""

    detector: str
    opened: int
    open_s: float


@dataclass(frozen=True)
class HostReport:
    """One host over the period."""

    host: str
    polls: int
    """Passes that polled it (samples, rolled-up ones counted by the passes they hold)."""
    answered: int
    rounds: int
    successes: int
    spend_usd: float
    alerts: tuple[AlertTime, ...] = ()

    @property
    def uptime(self) -> float | None:
        """Share of its polls that got an answer (None when it was never polled in the period)."""
        return self.answered / self.polls if self.polls else None

    @property
    def success_rate(self) -> float | None:
        """Share of its rounds that succeeded (None without rounds)."""
        return self.successes / self.rounds if self.rounds else None


@dataclass(frozen=True)
class Report:
    """Every host over ``[since, until)``, and the fleet's totals."""

    since: float
    until: float
    hosts: tuple[HostReport, ...] = field(default=())

    @property
    def totals(self) -> HostReport:
        """The fleet as one row (alerts summed per detector)."""
        alerts: dict[str, tuple[int, float]] = {}
        for h in self.hosts:
            for a in h.alerts:
                opened, open_s = alerts.get(a.detector, (0, 0.0))
                alerts[a.detector] = (opened + a.opened, open_s + a.open_s)
        return HostReport(
            "fleet",
            sum(h.polls for h in self.hosts),
            sum(h.answered for h in self.hosts),
            sum(h.rounds for h in self.hosts),
            sum(h.successes for h in self.hosts),
            sum(h.spend_usd for h in self.hosts),
            tuple(AlertTime(d, o, s) for d, (o, s) in sorted(alerts.items())),
        )


def load_report(conn: sqlite3.Connection, hosts: Sequence[str], since: float, until: float) -> Report:
    """The period's report for ``hosts`` from the state database."""
    polls = {
        r[0]: (int(r[1]), int(r[2] or 0))
        for r in conn.execute(
            "SELECT host, SUM(n), SUM(reachable) FROM samples WHERE at >= ? AND at <= ? GROUP BY host",
            (int(since), int(until)),
        )
    }
    # Whole hours from the hourly totals; the part of an hour the period starts in from the per-round
    # records (kept for days), so `--since 1h` at hh:30 does not count the rounds of hh-1:00 to hh-1:30.
    first_hour = -(-since // 3600) * 3600
    usage: dict[str, tuple[int, int, float]] = {}
    for query, bounds in (
        (
            "SELECT host, SUM(rounds), SUM(successes), SUM(cost_usd) FROM usage_hourly"
            " WHERE hour >= ? AND hour < ? GROUP BY host",
            (first_hour, until),
        ),
        (
            "SELECT host, COUNT(*), SUM(success), SUM(cost_usd) FROM usage"
            " WHERE ts >= ? AND ts < ? GROUP BY host",
            (since, min(first_hour, until)),
        ),
    ):
        for host, rounds, ok, spend in conn.execute(query, bounds):
            before = usage.get(host, (0, 0, 0.0))
            usage[host] = (before[0] + int(rounds), before[1] + int(ok or 0), before[2] + float(spend or 0.0))
    alerts: dict[tuple[str, str], list[float]] = {}  # (host, detector) -> [opened, seconds open]
    # Time open counts from the opening, not from when the condition was first seen (a `for: 10m`
    # alert resolved 2 minutes after it opened was open 2 minutes): each resolution is matched with the
    # latest opening before it, which may be older than the period.
    opened_at: dict[tuple[str, str], float] = {}
    rows = conn.execute(
        "SELECT host, detector, change, at, started_at FROM transitions WHERE at < ?"
        " AND change IN ('opened', 'resolved') ORDER BY at",
        (until,),
    )
    for host, detector, change, at, started in rows:
        key = (host, detector)
        if change == "opened":
            opened_at[key] = at
            if at >= since:
                alerts.setdefault(key, [0, 0.0])[0] += 1
        elif at >= since:
            began = opened_at.pop(key, started)
            alerts.setdefault(key, [0, 0.0])[1] += at - max(began, since)
        else:
            opened_at.pop(key, None)
    for host, detector, started in conn.execute(
        "SELECT host, detector, started_at FROM episodes WHERE opened = 1 AND started_at < ?", (until,)
    ):
        began = opened_at.get((host, detector), started)
        alerts.setdefault((host, detector), [0, 0.0])[1] += until - max(began, since)
    out = []
    for host in hosts:
        n, up = polls.get(host, (0, 0))
        rounds, ok, spend = usage.get(host, (0, 0, 0.0))
        mine = tuple(
            AlertTime(d, int(t[0]), float(t[1])) for (h, d), t in sorted(alerts.items()) if h == host
        )
        out.append(HostReport(host, n, up, rounds, ok, spend, mine))
    return Report(since, until, tuple(out))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _alerts(h: HostReport) -> str:
    return ", ".join(f"{a.detector} ×{a.opened} ({human_duration(a.open_s)} open)" for a in h.alerts) or "-"


def report_lines(report: Report, stamp: Callable[[float], str] = lambda ts: iso(ts, sep=" ")) -> list[str]:
    """The weekly summary an operator pastes into a chat (``stamp``: how times read; default UTC)."""
    head = f"fleetwatch report {stamp(report.since)} → {stamp(report.until)}"
    head += f" ({human_duration(report.until - report.since)}), {len(report.hosts)} hosts"
    table = [["HOST", "UPTIME", "ROUNDS", "SUCCESS", "SPEND", "ALERTS (opened, time open)"]]
    for h in (*report.hosts, report.totals):
        table.append(
            [h.host, _pct(h.uptime), str(h.rounds), _pct(h.success_rate), f"${h.spend_usd:.2f}", _alerts(h)]
        )
    widths = [max(len(r[c]) for r in table) for c in range(5)]
    lines = [head, ""]
    for r in table:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r[:5], widths, strict=True))
            )
            + "  "
            + r[5]
        )
    return [ln.rstrip() for ln in lines]
