"""``fleetwatch status`` and ``fleetwatch silences`` as text and JSON.  Pure formatting of ``FleetStatus``.

Values a host reported are shown with the age of the poll they came from; when that poll is not the
latest (the host stopped answering) or the whole status is stale, they are bracketed (``[97%]``) and the
row says since when, so nothing old ever reads as current.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from fleetwatch import silences
from fleetwatch.basics import human_duration, iso
from fleetwatch.cli.render import JSON_SCHEMA, alert_record, mute_note
from fleetwatch.notify.model import Backlog
from fleetwatch.polls import HostFacts
from fleetwatch.silences import Silence
from fleetwatch.status import Alert, FleetStatus, HostState, HostStatus

_COLUMNS = (
    "HOST",
    "STATE",
    "LAST OK",
    "LAST FAILURE",
    "DISK",
    "LOAD",
    "LAST EVENT",
    "ROUND",
    "TODAY",
    "ALERTS",
)


def _ago(now: float, ts: float | None) -> str:
    return "never" if ts is None else f"{human_duration(max(0.0, now - ts))} ago"


TREND_STEP = {"disk_used_pct": 0.5, "load_1m": 0.25}
"""Change per hour below which a value counts as steady (no arrow)."""


def arrow(h: HostStatus, metric: str) -> str:
    """``↑`` / ``↓`` when the value moved more than ``TREND_STEP`` per hour over the last hour."""
    slope = h.trends.get(metric)
    if slope is None or abs(slope) < TREND_STEP[metric]:
        return ""
    return "↑" if slope > 0 else "↓"


def _values(h: HostStatus, now: float) -> tuple[str, ...]:
    facts = h.poll.facts if h.poll else None
    if facts is None:
        return "-", "-", "-", "-"
    event = facts.newest_event_age_s(now)
    cells = (
        f"{facts.disk_used_pct:.0f}%{arrow(h, 'disk_used_pct')}" if facts.disk_used_pct is not None else "-",
        f"{facts.load_1m:.2f}{arrow(h, 'load_1m')}" if facts.load_1m is not None else "-",
        f"{human_duration(event)} ago" if event is not None else "-",
        f"R{facts.round}" if facts.round is not None else "-",
    )
    if h.current:
        return cells
    return tuple(f"[{c}]" if c != "-" else c for c in cells)


def _alerts_cell(h: HostStatus) -> str:
    if not h.alerts:
        return "-"
    names = [a.episode.detector + ("*" if not a.live else "") for a in h.alerts]
    return ",".join(names)


def _row(h: HostStatus, now: float) -> tuple[str, ...]:
    poll = h.poll
    failure = f"{poll.stage} {_ago(now, poll.failed_at)}" if poll and poll.failed_at is not None else "-"
    state = str(h.state) + ("" if h.enabled else " (disabled)")
    return (
        h.alias,
        state,
        _ago(now, poll.ok_at if poll else None),
        failure,
        *_values(h, now),
        f"${h.spend_today_usd:.2f}" if h.spend_today_usd is not None else "-",
        _alerts_cell(h),
    )


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _details(h: HostStatus, now: float) -> list[str]:
    lines = []
    poll = h.poll
    if not h.enabled:
        lines.append("disabled in the inventory: listed, not polled unless named with --host")
    if poll is None or not h.current:
        failing = f" (failing for {human_duration(now - h.failing_since)})" if h.failing_since else ""
        lines.append(h.why + failing)
    if poll is not None and poll.failed_last and poll.hint:
        lines.append(f"→ {poll.hint}")
    if poll is not None and poll.facts is not None and not h.current:
        lines.append(f"[values] are from the last good poll, {_ago(now, poll.ok_at)}")
    for a in h.alerts:
        ep = a.episode
        muted = f" [{mute_note(a.muted_by)}]" if a.muted_by else ""
        lines.append(
            f"{ep.severity.tag} {ep.detector} for {human_duration(now - ep.started_at)} — {ep.message}{muted}"
        )
    return [f"    {line}" for line in lines]


def headline(status: FleetStatus) -> str:
    """``6 hosts: 1 OK, 2 WARN, … · last pass 3 min ago · usually every 5 min``."""
    counts = [f"{status.count(s)} {s}" for s in HostState if status.count(s)]
    disabled = len(status.hosts) - len(status.watched)
    head = (
        f"{len(status.watched)} host{'s' if len(status.watched) != 1 else ''}: {', '.join(counts) or 'none'}"
    )
    if disabled:
        head += f" (+{disabled} disabled)"
    when = _ago(status.now, status.last_pass_at)
    return (
        f"{head} · last pass {when} · usually every {human_duration(status.cadence_s)} · {status.code.name}"
    )


def status_lines(status: FleetStatus) -> list[str]:
    """The ``status`` text: a headline, a row per host (and its details), the watcher, silences, backlog."""
    now = status.now
    lines = [headline(status), ""]
    rows = [_COLUMNS, *(_row(h, now) for h in status.hosts)]
    table = _table(rows)
    lines.append(table[0])
    for h, text in zip(status.hosts, table[1:], strict=True):
        lines.append(text)
        lines += _details(h, now)
    if status.watcher:
        lines += ["", "The watcher itself:"] + [_watcher_line(a, now) for a in status.watcher]
    if status.silences:
        lines += ["", "Silences and acks:"] + [f"    {silences.describe(s, now)}" for s in status.silences]
    if status.backlog:
        lines += ["", "Undelivered notifications:"] + [f"    {b.describe()}" for b in status.backlog]
    if any(not a.live for h in status.hosts for a in h.alerts):
        lines += ["", "* silenced or acknowledged: shown, not counted in the exit code"]
    return lines


def _watcher_line(a: Alert, now: float) -> str:
    ep = a.episode
    return f"    {ep.severity.tag} {ep.detector} for {human_duration(now - ep.started_at)} — {ep.message}"


def _alert_json(a: Alert) -> dict[str, Any]:
    ep = a.episode
    return {
        **alert_record(ep, "firing", ep.started_at),
        "muted": mute_note(a.muted_by) if a.muted_by else None,
    }


def _facts_json(facts: HostFacts | None, now: float) -> dict[str, Any] | None:
    if facts is None:
        return None
    record = dataclasses.asdict(facts)
    record["newest_event_age_s"] = facts.newest_event_age_s(now)
    record["clock_offset_s"] = round(facts.clock_offset_s, 3)
    return record


def host_record(h: HostStatus, now: float) -> dict[str, Any]:
    """The JSON shape of one status row."""
    poll = h.poll
    failure = None
    if poll is not None and poll.failed_at is not None:
        failure = {"at": iso(poll.failed_at), "stage": poll.stage, "message": poll.message, "hint": poll.hint}
    return {
        "host": h.alias,
        "groups": list(h.groups),
        "enabled": h.enabled,
        "state": str(h.state),
        "why": h.why,
        "stale": h.stale,
        "current": h.current,
        "last_polled": iso(poll.polled_at) if poll else None,
        "last_ok": iso(poll.ok_at) if poll and poll.ok_at is not None else None,
        "last_ok_age_s": round(now - poll.ok_at, 1) if poll and poll.ok_at is not None else None,
        "last_failure": failure,
        "failing_since": iso(h.failing_since) if h.failing_since is not None else None,
        "latency_s": poll.latency_s if poll else None,
        "facts": _facts_json(poll.facts if poll else None, now),
        "trends_per_hour": {k: round(v, 3) for k, v in h.trends.items()},
        "spend_today_usd": h.spend_today_usd,
        "alerts": [_alert_json(a) for a in h.alerts],
        "exit_code": int(h.code),
    }


def status_document(status: FleetStatus) -> dict[str, Any]:
    """``status --json``: one document (schema in docs/json.md)."""
    now = status.now
    return {
        "schema": JSON_SCHEMA,
        "at": iso(now),
        "status": status.code.name,
        "exit_code": int(status.code),
        "last_pass": iso(status.last_pass_at) if status.last_pass_at is not None else None,
        "cadence_s": status.cadence_s,
        "stale_after_s": status.stale_after_s,
        "counts": {str(s): status.count(s) for s in HostState},
        "hosts": [host_record(h, now) for h in status.hosts],
        "watcher": [_alert_json(a) for a in status.watcher],
        "silences": [silence_record(s, now) for s in status.silences],
        "backlog": [backlog_record(b) for b in status.backlog],
    }


def silence_record(s: Silence, now: float) -> dict[str, Any]:
    """The JSON shape of one silence or ack."""
    return {
        "id": s.id,
        "kind": "ack" if s.ack else "silence",
        "target": s.target,
        "host": s.host,
        "detector": s.detector,
        "until": iso(s.until) if s.until is not None else None,
        "remaining_s": round(s.until - now, 1) if s.until is not None else None,
        "reason": s.reason,
        "created_at": iso(s.created_at),
        "created_by": s.created_by,
    }


def backlog_record(b: Backlog) -> dict[str, Any]:
    """The JSON shape of one target's undelivered notifications."""
    return dataclasses.asdict(b)


def silences_lines(items: Sequence[Silence], now: float) -> list[str]:
    """``fleetwatch silences``: one line per silence or ack, with its end as a time."""
    if not items:
        return ["no silences or acks in force"]
    lines = []
    for s in items:
        until = f" (until {iso(s.until, sep=' ')})" if s.until is not None and not s.ack else ""
        lines.append(f"#{s.id} {silences.describe(s, now)}{until}")
    return lines
