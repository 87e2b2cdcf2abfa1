"""``fleetwatch history`` and ``fleetwatch report`` as text and JSON.  Pure formatting."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fleetwatch.basics import human_duration, iso
from fleetwatch.cli.render import JSON_SCHEMA
from fleetwatch.history.model import METRICS
from fleetwatch.history.report import HostReport, Report

BARS = "▁▂▃▄▅▆▇█"
ALIASES = {
    "disk": "disk_used_pct",
    "free": "disk_free_gb",
    "load": "load_1m",
    "mem": "mem_available_mb",
    "latency": "latency_s",
    "clock": "clock_offset_s",
    "spend": "spend_usd",
    "duration": "round_duration_s",
    "age": "event_age_s",
}
DEFAULT_METRICS = ("disk", "load", "latency", "reachable", "spend", "rounds", "duration")
UNITS = {"spend_usd": "USD/h", "rounds": "rounds/h", "round_duration_s": "s"}
SUMMED = ("spend_usd", "rounds")
"""Usage series that are totals per hour: a bucket adds them up instead of averaging."""


def metric_name(name: str) -> str:
    """The catalogue name of a metric given as written on the command line."""
    return ALIASES.get(name, name)


def unit(metric: str) -> str:
    """The unit a metric is shown in."""
    return UNITS.get(metric) or (METRICS[metric].unit if metric in METRICS else "")


def buckets(
    points: Sequence[tuple[float, float]], since: float, until: float, count: int, summed: bool
) -> list[float | None]:
    """``count`` equal time buckets over ``[since, until]``: each the mean (or total) of its points."""
    width = (until - since) / count
    sums, ns = [0.0] * count, [0] * count
    for t, v in points:
        i = min(count - 1, max(0, int((t - since) // width)))
        sums[i] += v
        ns[i] += 1
    return [None if not n else (s if summed else s / n) for s, n in zip(sums, ns, strict=True)]


def sparkline(values: Sequence[float | None]) -> str:
    """``▁▂▅█`` scaled between the lowest and highest value; gaps (no data) are spaces."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if v is None else BARS[0 if span == 0 else min(7, int((v - low) / span * 7.999))] for v in values
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def history_lines(
    host: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    since: float,
    until: float,
    eta: float | None,
    width: int = 48,
    rows: int = 12,
    stamp: Callable[[float], str] = lambda ts: iso(ts, sep=" "),
) -> list[str]:
    """A line per metric (range and sparkline), then a table of the period in ``rows`` buckets; times as
    ``stamp`` writes them (the operator's timezone, or UTC)."""
    lines = [f"{host} — {stamp(since)} → {stamp(until)} ({human_duration(until - since)})"]
    label = max(len(m) for m in series) if series else 0
    for metric, points in series.items():
        values = [v for _, v in points]
        bars = sparkline(buckets(points, since, until, width, metric in SUMMED))
        if not values:
            lines.append(f"  {metric.ljust(label)}  no data")
            continue
        total = f"total {sum(values):.2f}  " if metric in SUMMED else ""
        lines.append(
            f"  {metric.ljust(label)}  {bars}  {total}last {_fmt(values[-1])} min {_fmt(min(values))} "
            f"max {_fmt(max(values))} {unit(metric)}".rstrip()
        )
    if eta is not None:
        lines.append(f"  disk full in {human_duration(eta - until)} at the recent rate (around {stamp(eta)})")
    columns = list(series)
    table = [["TIME", *columns]]
    step = (until - since) / rows
    cells = {m: buckets(series[m], since, until, rows, m in SUMMED) for m in columns}
    for i in range(rows):
        table.append([stamp(since + i * step), *(_fmt(cells[m][i]) for m in columns)])
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    lines.append("")
    lines += [
        "  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in table
    ]
    return lines


def history_document(
    host: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    since: float,
    until: float,
    eta: float | None,
) -> dict[str, Any]:
    """``history --json``."""
    return {
        "schema": JSON_SCHEMA,
        "host": host,
        "since": iso(since),
        "until": iso(until),
        "disk_full_at": iso(eta) if eta is not None else None,
        "metrics": {
            m: {"unit": unit(m), "points": [[iso(t), v] for t, v in pts]} for m, pts in series.items()
        },
    }


def report_document(report: Report) -> dict[str, Any]:
    """``report --json``."""

    def row(h: HostReport) -> dict[str, Any]:
        return {
            "host": h.host,
            "uptime": h.uptime,
            "polls": h.polls,
            "rounds": h.rounds,
            "success_rate": h.success_rate,
            "spend_usd": round(h.spend_usd, 6),
            "alerts": [
                {"detector": a.detector, "opened": a.opened, "open_s": round(a.open_s)} for a in h.alerts
            ],
        }

    return {
        "schema": JSON_SCHEMA,
        "since": iso(report.since),
        "until": iso(report.until),
        "hosts": [row(h) for h in report.hosts],
        "fleet": row(report.totals),
    }
