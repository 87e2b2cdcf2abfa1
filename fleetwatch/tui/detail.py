"""The host detail screen's sections as rich ``Text``: open alerts with their evidence, key facts,
recent supervisor events and the latest round log.  Pure presentation of ``HostStatus`` and the host's
latest ``Snapshot`` (kept in memory from the TUI's own polls); nothing here decides anything.

Hosts' own words (messages, log tails, event fields) go into ``Text`` objects, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.text import Text

from fleetwatch.basics import human_duration
from fleetwatch.cli.render import alert_note
from fleetwatch.detect.base import Context
from fleetwatch.findings import Observation
from fleetwatch.settings import Thresholds
from fleetwatch.snapshot import Snapshot
from fleetwatch.status import Alert, HostStatus
from fleetwatch.tui.columns import OLD, SEVERITY_STYLES, STATE_STYLES

EVENTS_SHOWN = 15
LOG_LINES = 20
EVIDENCE_LINES = 6


def when(ts: float, now: float) -> str:
    """``14:03:27`` today, ``11-20 09:15`` before (local time)."""
    moment = datetime.fromtimestamp(ts)
    if moment.date() == datetime.fromtimestamp(now).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M")


def ago(ts: float | None, now: float) -> str:
    """``12 min ago``, or ``never``."""
    return "never" if ts is None else f"{human_duration(max(0.0, now - ts))} ago"


def header(h: HostStatus, where: str | None, now: float) -> Text:
    """``pi3  CRIT  polled 12 s ago  · lab,attic · pi@10.0.0.3:22`` (the age at ``now``)."""
    why = h.why_at(now)
    text = Text.assemble((h.alias, "bold"), "  ", (f" {h.state} ", STATE_STYLES[h.state]), "  ", why)
    extra = [",".join(h.groups)] if h.groups else []
    if where:
        extra.append(where)
    if not h.enabled:
        extra.append("disabled in the inventory")
    if extra:
        text.append("  · " + " · ".join(extra), style="dim")
    return text


def _evidence(a: Alert, tails: dict[int, str]) -> list[str]:
    """The log tails of the rounds an alert names (a crash loop's, an auth failure's)."""
    rounds = a.episode.context.get("rounds")
    if not isinstance(rounds, list):
        return []
    lines: list[str] = []
    for rnd in rounds[-2:]:
        tail = tails.get(rnd) if isinstance(rnd, int) else None
        if tail:
            lines.append(f"round {rnd}, log tail:")
            lines += [f"  {line}" for line in tail.splitlines()[-EVIDENCE_LINES:]]
    return lines


def alerts_section(h: HostStatus, snapshot: Snapshot | None, now: float) -> Text:
    """Each open alert: severity, detector, how long, what mutes it; the message, the hint, evidence."""
    if not h.alerts:
        return Text("No open alerts.", style="dim")
    tails: dict[int, str] = {}
    if snapshot is not None:
        tails = dict(Context(Observation(h.alias, now, snapshot), Thresholds(), now).log_tails)
    out = Text()
    for i, a in enumerate(h.alerts):
        ep = a.episode
        if i:
            out.append("\n\n")
        style = SEVERITY_STYLES[ep.severity] if a.live else OLD
        out.append(f"{ep.severity.tag} {ep.detector}", style=style)
        out.append(f"  for {human_duration(max(0.0, now - ep.started_at))}")
        note = alert_note(a)
        if note:
            out.append(f"  [{note}]", style="italic")
        out.append(f"\n{ep.message}")
        if ep.hint:
            out.append(f"\n→ {ep.hint}", style="italic")
        evidence = _evidence(a, tails)
        if evidence:
            out.append("\n" + "\n".join(evidence), style="dim")
        elif isinstance(ep.context.get("evidence"), str):
            out.append(f"\nevidence: {ep.context['evidence']}", style="dim")
    return out


def _rows(pairs: Iterable[tuple[str, str | None]]) -> Text:
    kept = [(k, v) for k, v in pairs if v is not None]
    width = max((len(k) for k, _ in kept), default=0)
    out = Text()
    for i, (key, value) in enumerate(kept):
        if i:
            out.append("\n")
        out.append(key.ljust(width + 2), style="bold")
        out.append(value)
    return out


def facts_section(h: HostStatus, now: float) -> Text:
    """Key facts of the latest poll, with how old they are when they are not current."""
    poll = h.poll
    if poll is None:
        return Text("Never polled: nothing known yet.", style="dim")
    facts = poll.facts
    failure = None
    if poll.failed_at is not None:
        failure = f"{poll.stage} {ago(poll.failed_at, now)}: {poll.message}"
    failing = f"for {human_duration(now - h.failing_since)}" if h.failing_since is not None else None
    pairs: list[tuple[str, str | None]] = [
        ("last ok", ago(poll.ok_at, now)),
        ("last failure", failure),
        ("failing", failing),
        ("hint", poll.hint if poll.failed_last else None),
        ("latency", f"{poll.latency_s:.2f} s" if poll.latency_s is not None else None),
    ]
    if facts is not None:
        age = facts.newest_event_age_s(now)
        disk = None
        if facts.disk_used_pct is not None:
            free = f", {facts.disk_free_gb:.1f} GB free" if facts.disk_free_gb is not None else ""
            disk = f"{facts.disk_used_pct:.1f}% used{free} at {facts.disk_path}"
        memory = None
        if facts.mem_available_mb is not None and facts.mem_total_mb is not None:
            memory = f"{facts.mem_available_mb} of {facts.mem_total_mb} MB available"
        pairs += [
            ("runner", f"{facts.runner} {facts.runner_version}" if facts.runner_version else facts.runner),
            ("project", facts.project),
            ("round", f"R{facts.round}" if facts.round is not None else None),
            ("phase", facts.phase),
            ("round running", _yes(facts.running)),
            ("serve active", _yes(facts.serve_active)),
            ("newest event", f"{facts.newest_event} {ago(now - age, now)}" if age is not None else None),
            ("disk", disk),
            ("load", f"{facts.load_1m:.2f}" if facts.load_1m is not None else None),
            ("memory", memory),
            ("clock offset", f"{facts.clock_offset_s:+.1f} s"),
            ("not understood", facts.problem),
        ]
    text = _rows(pairs)
    if facts is not None and not h.current:
        text.append(f"\n\n[values] are from the last good poll, {ago(poll.ok_at, now)}", style=OLD)
    return text


def _yes(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


_SAID_ELSEWHERE = frozenset({"ts", "event", "round_num"})


def _brief(data: Any) -> str:
    """A few short scalar fields of an event, ``key=value`` (hashes and digests left out)."""
    if not isinstance(data, dict):
        return ""
    parts = [
        f"{k}={v}"
        for k, v in data.items()
        if k not in _SAID_ELSEWHERE and isinstance(v, str | int | float) and len(str(v)) <= 24
    ]
    return " ".join(parts[:4])


def events_section(snapshot: Snapshot | None, now: float) -> Text:
    """The newest supervisor events, newest first, ages on the host's own clock."""
    if snapshot is None:
        return Text("No snapshot of this host in memory yet (it arrives with the next poll).", style="dim")
    events = snapshot.supervised_events()[-EVENTS_SHOWN:]
    if not events:
        return Text("No supervisor events.", style="dim")
    out = Text()
    for i, e in enumerate(reversed(events)):
        if i:
            out.append("\n")
        age = max(0.0, snapshot.remote_time - e.ts + (now - snapshot.received_at))
        rnd = e.data.get("round_num")
        out.append(f"{human_duration(age):>7} ago  ", style="dim")
        out.append(e.kind, style="bold")
        if rnd is not None:
            out.append(f"  R{rnd}")
        brief = _brief(e.data)
        if brief:
            out.append(f"  {brief}", style="dim")
    return out


def round_log_section(snapshot: Snapshot | None) -> Text:
    """The newest round log's tail."""
    if snapshot is None or not snapshot.round_logs:
        return Text("No round log in the latest snapshot.", style="dim")
    log = max(snapshot.round_logs, key=lambda r: r.mtime)
    lines = log.tail.splitlines()[-LOG_LINES:]
    out = Text(log.path, style="bold")
    out.append("\n" + ("\n".join(lines) if lines else "(empty)"))
    return out
