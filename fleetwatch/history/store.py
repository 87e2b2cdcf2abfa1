"""History in the state database: record each pass, roll old samples up, answer the views' questions.

The tables are the store's (``store/schema.py``, step 4); these are their queries, on ``Store.connection``.
Every write joins the caller's transaction (the pass's), so a pass's samples commit with its episodes.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from fleetwatch.history.model import (
    METRICS,
    HistorySettings,
    HostHistory,
    Sample,
    Spend,
    Trend,
    Usage,
    fill_rate,
)
from fleetwatch.store.sqlite import immediate

_COLUMNS = tuple(METRICS)
ROLLUP_EVERY_S = 3600.0
"""Samples are rolled up at most this often (their raw tier is kept hours longer than that)."""


def record_samples(conn: sqlite3.Connection, samples: Iterable[Sample]) -> None:
    """Store one raw sample per host (a host polled twice in one second keeps the later)."""
    rows = [
        (s.host, 0, int(s.at), 1, s.stage, *(METRICS[c].encode(s.values.get(c)) for c in _COLUMNS))
        for s in samples
    ]
    marks = ",".join("?" * (5 + len(_COLUMNS)))
    conn.executemany(f"INSERT OR REPLACE INTO samples VALUES ({marks})", rows)


def record_usage(
    conn: sqlite3.Connection, usages: Iterable[Usage], now: float, settings: HistorySettings
) -> int:
    """Store usage records not seen before (peeks repeat them) and add them to the hourly and daily
    totals; returns how many were new.  Records older than what the last rollup dropped are not taken:
    the memory of having counted them is gone (a stopped runner's peek repeats its last events for
    ever), and counting them again would grow the totals every hour."""
    new = 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'usage_dropped_before'").fetchone()
    dropped = float(row[0]) if row is not None else None
    for u in usages:
        if dropped is not None and u.ts < dropped:
            continue
        cur = conn.execute(
            "INSERT OR IGNORE INTO usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                u.host,
                u.round,
                u.ts,
                u.phase,
                u.agent,
                u.model,
                u.cost_usd,
                u.input_tokens,
                u.output_tokens,
                u.cached_tokens,
                u.tool_calls,
                int(u.success),
                u.duration_s,
                now,
            ),
        )
        if cur.rowcount != 1:
            continue
        new += 1
        totals = (
            1,
            int(u.success),
            u.cost_usd,
            u.input_tokens,
            u.output_tokens,
            u.cached_tokens,
            u.tool_calls,
            u.duration_s or 0.0,
        )
        for table, key in (("usage_hourly", int(u.ts // 3600 * 3600)), ("usage_daily", settings.day(u.ts))):
            conn.execute(
                f"INSERT INTO {table} VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
                " rounds=rounds+excluded.rounds, successes=successes+excluded.successes,"
                " cost_usd=cost_usd+excluded.cost_usd, input_tokens=input_tokens+excluded.input_tokens,"
                " output_tokens=output_tokens+excluded.output_tokens,"
                " cached_tokens=cached_tokens+excluded.cached_tokens,"
                " tool_calls=tool_calls+excluded.tool_calls,"
                " duration_s=duration_s+excluded.duration_s",
                (u.host, key, *totals),
            )
    return new


def _fold(column: str) -> str:
    """SQL folding ``column`` of the rows of one bucket (weighted by the passes each holds)."""
    agg = METRICS[column].agg
    if agg == "sum":
        return f"SUM({column})"
    if agg == "max":
        return f"MAX({column})"
    weight = f"SUM(CASE WHEN {column} IS NULL THEN 0 ELSE n END)"
    return f"CAST(ROUND(SUM({column} * n) * 1.0 / NULLIF({weight}, 0)) AS INTEGER)"


def roll_up(conn: sqlite3.Connection, now: float, settings: HistorySettings) -> None:
    """Fold samples older than their tier's keep into the next coarser tier, and drop what is older
    than the coarsest keeps (and per-round usage records past ``usage``).  Joins the caller's
    transaction or takes its own."""
    tiers = settings.tiers
    with immediate(conn, join=True):
        for (fine, keep), (coarse, _) in itertools.pairwise(tiers):
            cutoff = int((now - keep) // coarse * coarse)  # whole buckets only: each row is folded once
            folded = ", ".join(_fold(c) for c in _COLUMNS)
            conn.execute(
                f"INSERT INTO samples SELECT host, {coarse}, at / {coarse} * {coarse}, SUM(n), MAX(stage),"
                f" {folded} FROM samples WHERE res = {fine} AND at < ? GROUP BY host, at / {coarse}"
                " ON CONFLICT DO NOTHING",
                (cutoff,),
            )
            conn.execute("DELETE FROM samples WHERE res = ? AND at < ?", (fine, cutoff))
        coarsest, keep = tiers[-1]
        conn.execute("DELETE FROM samples WHERE res = ? AND at < ?", (coarsest, int(now - keep)))
        conn.execute("DELETE FROM usage WHERE ts < ?", (now - settings.usage,))
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('usage_dropped_before', ?)", (str(now - settings.usage),)
        )
        conn.execute("DELETE FROM usage_hourly WHERE hour < ?", (now - settings.hourly,))
        conn.execute("DELETE FROM usage_daily WHERE day < ?", (settings.day(now - settings.hourly),))
        conn.execute("DELETE FROM transitions WHERE at < ?", (now - settings.hourly,))


def due_for_rollup(conn: sqlite3.Connection, now: float) -> bool:
    """Whether an hour has passed since the last rollup (recorded in ``meta``)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'history_rollup'").fetchone()
    return row is None or now - float(row[0]) >= ROLLUP_EVERY_S


def mark_rollup(conn: sqlite3.Connection, now: float) -> None:
    """Remember when the last rollup ran."""
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('history_rollup', ?)", (str(now),))


def series(
    conn: sqlite3.Connection, host: str, metric: str, since: float, until: float
) -> list[tuple[float, float]]:
    """(time, value) of one sampled metric over a period, oldest first, at the finest resolution kept
    for each part of it; unknown values are left out."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}")
    m = METRICS[metric]
    rows = conn.execute(
        f"SELECT at, n, {metric} FROM samples WHERE host = ? AND at >= ? AND at <= ? AND {metric} IS NOT NULL"
        " ORDER BY at",
        (host, int(since), int(until)),
    )
    return [(float(at), value) for at, n, raw in rows if (value := m.decode(raw, n)) is not None]


def usage_series(
    conn: sqlite3.Connection, host: str, metric: str, since: float, until: float
) -> list[tuple[float, float]]:
    """(time, value) of a usage metric: ``spend_usd`` and ``rounds`` per hour, ``round_duration_s`` per
    round (hourly means once the per-round records are gone)."""
    if metric == "round_duration_s":
        rows = conn.execute(
            "SELECT ts, duration_s FROM usage WHERE host = ? AND ts >= ? AND ts <= ?"
            " AND duration_s IS NOT NULL ORDER BY ts",
            (host, since, until),
        ).fetchall()
        if rows:
            return [(float(ts), float(d)) for ts, d in rows]
        query = "SELECT hour, duration_s / rounds FROM usage_hourly"
    elif metric == "spend_usd":
        query = "SELECT hour, cost_usd FROM usage_hourly"
    elif metric == "rounds":
        query = "SELECT hour, rounds FROM usage_hourly"
    else:
        raise KeyError(f"unknown metric {metric!r}")
    hourly = conn.execute(  # the hour holding `since` too
        f"{query} WHERE host = ? AND hour > ? AND hour <= ? ORDER BY hour", (host, since - 3600, until)
    )
    return [(float(t), float(v)) for t, v in hourly]


BASELINE_S = 7 * 86400.0


SERVE_WINDOW_S = 6 * 3600.0
HOUR_AGO_MIN_S = 3000
"""The oldest sample of the last hour stands for "an hour ago" only when it is at least this old (s)."""
"""How far back ``active_since`` looks: ``no_progress`` windows (factor × round budget) up to this long."""


def spent_since(conn: sqlite3.Connection, since: float) -> float:
    """Every host's spend (USD) from the per-round records since ``since`` (today: the day's start)."""
    row = conn.execute("SELECT SUM(cost_usd) FROM usage WHERE ts >= ?", (since,)).fetchone()
    return float(row[0] or 0.0)


def host_histories(
    conn: sqlite3.Connection,
    disk_windows: Mapping[str, float],
    now: float,
    settings: HistorySettings,
) -> dict[str, HostHistory]:
    """Each host's recent history, summarised in SQL (a few aggregate queries, whatever the fleet size):
    its disk trend over its window (``disk_windows``: host -> seconds), reachability over the last hour,
    since when serve has been active, and its spend."""
    if not disk_windows:
        return {}
    hosts = list(disk_windows)
    listed = json.dumps(hosts)
    scale = METRICS["disk_used_pct"].scale
    disk: dict[str, Trend] = {}
    by_window: dict[float, list[str]] = {}
    for host, window in disk_windows.items():
        by_window.setdefault(window, []).append(host)
    for window, some in by_window.items():
        rows = conn.execute(  # x = at - now keeps the sums small; y is the stored (scaled) value
            "SELECT host, COUNT(*), SUM(x), SUM(y), SUM(x * x), SUM(x * y), MIN(at), MAX(at) FROM"
            " (SELECT host, at, at - ? AS x, disk_used_pct * 1.0 AS y FROM samples"
            "  WHERE host IN (SELECT value FROM json_each(?)) AND res = 0 AND at >= ?"
            "  AND disk_used_pct IS NOT NULL)"
            " GROUP BY host",
            (int(now), json.dumps(some), int(now - window)),
        )
        for host, n, sx, sy, sxx, sxy, first, last in rows:
            spread = n * sxx - sx * sx
            slope = (n * sxy - sx * sy) / spread / scale if n >= 2 and spread > 0 else None
            disk[host] = Trend(int(n), float(first), float(last), slope)
    reach = {
        r[0]: (int(r[1]), int(r[2] or 0))
        for r in conn.execute(
            "SELECT host, COUNT(*), SUM(reachable = 1 AND before = 0) FROM"
            " (SELECT host, reachable, LAG(reachable) OVER (PARTITION BY host ORDER BY at) AS before"
            "  FROM samples WHERE host IN (SELECT value FROM json_each(?)) AND res = 0 AND at >= ?)"
            " GROUP BY host",
            (listed, int(now - 3600)),
        )
    }
    serve = {
        r[0]: (float(r[1]), r[2], r[3])
        for r in conn.execute(
            "SELECT host, MIN(at), MAX(CASE WHEN COALESCE(serve_active, 0) = 0 THEN at END), MAX(at)"
            " FROM samples WHERE host IN (SELECT value FROM json_each(?)) AND res = 0 AND at >= ?"
            " GROUP BY host",
            (listed, int(now - SERVE_WINDOW_S)),
        )
    }
    hour_ago = {  # SQLite: with a single MIN(), the bare column comes from that row
        r[0]: float(r[2]) / scale
        for r in conn.execute(
            "SELECT host, MIN(at), disk_used_pct * 1.0 FROM samples"
            " WHERE host IN (SELECT value FROM json_each(?)) AND res = 0 AND at >= ? AND at <= ?"
            " AND disk_used_pct IS NOT NULL GROUP BY host",
            (listed, int(now - 3600), int(now - HOUR_AGO_MIN_S)),
        )
    }
    spend = _spend(conn, set(hosts), now, settings)
    empty = Spend(0.0, 0.0, None, 0, None)
    out = {}
    for host in hosts:
        polls, returns = reach.get(host, (0, 0))
        first, last_idle, newest = serve.get(host, (None, None, None))
        if first is None or last_idle == newest:
            active_since = None  # never sampled, or serve is not active in the newest sample
        else:
            active_since = first if last_idle is None else float(last_idle) + 1
        out[host] = HostHistory(
            spend.get(host, empty), disk.get(host), polls, returns, active_since, hour_ago.get(host)
        )
    return out


def _spend(
    conn: sqlite3.Connection, hosts: set[str], now: float, settings: HistorySettings
) -> dict[str, Spend]:
    day = settings.day_start(now)
    listed = json.dumps(sorted(hosts))
    today = {
        r[0]: (float(r[1]), int(r[2]), r[3])
        for r in conn.execute(
            "SELECT host, SUM(cost_usd), COUNT(*), MAX(ts) FROM usage"
            " WHERE host IN (SELECT value FROM json_each(?)) AND ts >= ? GROUP BY host",
            (listed, day),
        )
    }
    recent = {  # the last 24 h and, within it, the last hour
        r[0]: (float(r[1]), int(r[2]), float(r[3] or 0.0), int(r[4] or 0), r[5])
        for r in conn.execute(
            "SELECT host, SUM(cost_usd), COUNT(*), SUM(CASE WHEN ts >= :hour THEN cost_usd END),"
            " SUM(ts >= :hour), MIN(CASE WHEN ts >= :hour THEN ts END) FROM usage"
            " WHERE host IN (SELECT value FROM json_each(:hosts)) AND ts >= :day GROUP BY host",
            {"hosts": listed, "hour": now - 3600, "day": now - 86400},
        )
    }
    newest = dict(
        conn.execute(
            "SELECT host, MAX(ts) FROM usage WHERE host IN (SELECT value FROM json_each(?)) GROUP BY host",
            (listed,),
        ).fetchall()
    )
    baseline = {
        r[0]: (float(r[1]), int(r[2]))
        for r in conn.execute(
            "SELECT host, SUM(cost_usd), COUNT(*) FROM usage_hourly"
            " WHERE host IN (SELECT value FROM json_each(?)) AND hour >= ? AND hour < ? GROUP BY host",
            (listed, now - BASELINE_S, now // 3600 * 3600 - 3600),
        )
    }
    out = {}
    for host in hosts:
        spent, rounds, _ = today.get(host, (0.0, 0, None))
        total, hours = baseline.get(host, (0.0, 0))
        day_usd, day_rounds, hour_usd, hour_rounds, since = recent.get(host, (0.0, 0, 0.0, 0, None))
        out[host] = Spend(
            today_usd=spent,
            last_hour_usd=hour_usd,
            last_hour_since=since,
            baseline_usd_per_hour=total / hours if hours >= 24 else None,
            rounds_today=rounds,
            last_round_at=newest.get(host),
            rounds_last_hour=hour_rounds,
            last_day_usd=day_usd,
            rounds_last_day=day_rounds,
        )
    return out


def spend_on(conn: sqlite3.Connection, day: str) -> dict[str, float]:
    """host -> USD spent on the operator's ``day``."""
    return {
        h: float(c) for h, c in conn.execute("SELECT host, cost_usd FROM usage_daily WHERE day = ?", (day,))
    }


TREND_METRICS = ("disk_used_pct", "load_1m")


def trends(
    conn: sqlite3.Connection, hosts: Sequence[str], now: float, window_s: float = 3600.0
) -> dict[str, dict[str, float]]:
    """host -> metric -> change per hour over the last ``window_s`` (least squares over raw samples)."""
    points: dict[tuple[str, str], list[tuple[float, float]]] = {}
    rows = conn.execute(
        f"SELECT host, at, {', '.join(TREND_METRICS)} FROM samples"
        " WHERE host IN (SELECT value FROM json_each(?)) AND res = 0 AND at >= ?",
        (json.dumps(list(hosts)), int(now - window_s)),
    )
    for host, at, *raw in rows:
        for metric, value in zip(TREND_METRICS, raw, strict=True):
            decoded = METRICS[metric].decode(value)
            if decoded is not None:
                points.setdefault((host, metric), []).append((float(at), decoded))
    out: dict[str, dict[str, float]] = {}
    for (host, metric), pts in points.items():
        slope = fill_rate(pts) if len(pts) >= 3 else None
        if slope is not None:
            out.setdefault(host, {})[metric] = slope * 3600
    return out
