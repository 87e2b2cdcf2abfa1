"""Text and JSON for people and machines: alert lines, the ``check`` plugin output, ``status`` tables.

Pure formatting of the read model (``FleetStatus``) and of episodes; nothing here polls or stores."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch import silences
from fleetwatch.basics import human_duration, iso
from fleetwatch.episodes import Change, Episode, Transition
from fleetwatch.events import ActionFinished
from fleetwatch.findings import Severity
from fleetwatch.silences import Silence
from fleetwatch.status import Alert, ExitCode, FleetStatus, HostState

JSON_SCHEMA = 2
"""Version of every ``--json`` document and line (see docs/json.md); 1 was 0.1.0's, which had no field."""


def plugin_text(text: str) -> str:
    """Text safe for a plugin's output: one line, and no ``|`` (an engine would take what follows as
    perfdata); hosts' words reach alert messages, so this is applied to every line ``check`` prints."""
    return " ".join(text.replace("|", "¦").split())


def alert_record(ep: Episode, state: str, ts: float) -> dict[str, Any]:
    """The JSON shape of one alert line."""
    return {
        "host": ep.host,
        "detector": ep.detector,
        "severity": ep.severity.label,
        "message": ep.message,
        "context": dict(ep.context),
        "hint": ep.hint,
        "ts": iso(ts),
        "state": state,
    }


def text_line(ep: Episode, state: str, now: float) -> str:
    """``[CRIT] pi3 disk_critical — disk 96% full … (hint)``, or a resolution line."""
    if state == "resolved":
        lasted = human_duration(now - ep.started_at)
        return f"[ OK ] {ep.host} {ep.detector} resolved after {lasted} — was: {ep.message}"
    hint = f" → {ep.hint}" if ep.hint else ""
    return f"{ep.severity.tag} {ep.host} {ep.detector} — {ep.message}{hint}"


def format_alert(ep: Episode, state: str, ts: float, as_json: bool, note: str = "") -> str:
    """One output line for an alert in the chosen format; ``note`` says what mutes it, if anything."""
    if as_json:
        record = {"schema": JSON_SCHEMA, **alert_record(ep, state, ts), "muted": note or None}
        return json.dumps(record, default=str, ensure_ascii=False)
    line = text_line(ep, state, ts)
    return f"{line} [{note}]" if note else line


def transition_lines(transitions: Iterable[Transition], as_json: bool) -> list[str]:
    """Lines for transitions as they happen (watch mode)."""
    lines = []
    for t in transitions:
        state = "resolved" if t.change is Change.RESOLVED else "firing"
        ts = t.at if state == "resolved" else t.episode.started_at
        lines.append(format_alert(t.episode, state, ts, as_json))
    return lines


def open_lines(status: FleetStatus, as_json: bool) -> list[str]:
    """Lines for every open alert of a status (its hosts', the watcher's), worst first."""
    return [
        format_alert(a.episode, "firing", a.episode.started_at, as_json, alert_note(a))
        for a in status.alerts()
    ]


@dataclass(frozen=True)
class Perf:
    """One perfdata value as the plugin guidelines write it: ``'label'=value[UOM];warn;crit;min;max``.

    Thresholds are plugin ranges: ``0`` means "alert when above 0"."""

    label: str
    value: float | int
    unit: str = ""
    warn: str = ""
    crit: str = ""
    min: float | int | None = 0
    max: float | int | None = None

    def __str__(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else str(self.value)
        bounds = ["" if b is None else str(b) for b in (self.min, self.max)]
        fields = ";".join([self.warn, self.crit, *bounds]).rstrip(";")
        return f"'{self.label}'={value}{self.unit}" + (f";{fields}" if fields else "")


@dataclass(frozen=True)
class CheckSummary:
    """The monitoring-plugin view of one pass: status, per-host counts, perfdata."""

    code: ExitCode
    line: str
    perfdata: dict[str, float | int]


def host_counts(status: FleetStatus) -> dict[str, int]:
    """Watched hosts by what ``check`` counts them as: a host not seen is never "ok"."""
    counts = dict.fromkeys(("critical", "warning", "unreachable", "unknown", "ok"), 0)
    for h in status.watched:  # a critical alert first, then what we could not see, then warnings
        if h.live_severity is Severity.CRITICAL:
            counts["critical"] += 1
        elif h.state is HostState.UNREACHABLE:
            counts["unreachable"] += 1
        elif h.state in (HostState.UNKNOWN, HostState.NEVER_POLLED):
            counts["unknown"] += 1
        elif h.live_severity is Severity.WARNING:
            counts["warning"] += 1
        else:
            counts["ok"] += 1
    return counts


def check_summary(status: FleetStatus, seconds: float) -> CheckSummary:
    """``FLEETWATCH CRITICAL - 2 critical, 1 warning, 1 unreachable, 0 unknown, 8 ok of 12 hosts | …``.

    The status is ``FleetStatus.code``: silenced, acknowledged and inhibited alerts are listed but do not
    raise it; hosts not seen never count as ok; a blind pass (watcher offline, nothing reachable, the
    deadline reached) is UNKNOWN unless something is known to be CRITICAL.
    """
    counts = host_counts(status)
    total = len(status.watched)
    alerts = status.alerts()
    code = status.code
    text = (
        f"FLEETWATCH {code.name} - " + ", ".join(f"{n} {k}" for k, n in counts.items()) + f" of {total} hosts"
    )
    quieted = sum(
        1 for h in status.watched if h.live_severity is None and h.state in (HostState.WARN, HostState.CRIT)
    )
    if quieted:  # counted ok because every alert is acked, silenced or inhibited: `status` shows them
        text += f"; {quieted} of the ok hosts {'has' if quieted == 1 else 'have'} muted alerts only"
    if status.watcher_offline:
        text += "; this watcher seems offline"
    if status.pending:
        names = ", ".join(status.pending[:5]) + (" …" if len(status.pending) > 5 else "")
        text += f"; pass deadline reached, {len(status.pending)} pending: {names}"
    perf = [
        Perf("hosts", total),
        Perf("ok", counts["ok"], max=total),
        Perf("warning", counts["warning"], warn="0", max=total),
        Perf("critical", counts["critical"], crit="0", max=total),
        Perf("unreachable", counts["unreachable"], warn="0", max=total),
        Perf("unknown", counts["unknown"], warn="0", max=total),
        Perf("hosts_pending", len(status.pending), warn="0", max=total),
        Perf("alerts", len(alerts)),
        Perf("muted", sum(1 for a in alerts if not a.live)),
        Perf("time", round(seconds, 2), unit="s"),
        Perf("notify_pending", sum(b.pending for b in status.backlog)),
        Perf("notify_failed", sum(b.failed for b in status.backlog), warn="0"),
    ]
    line = f"{plugin_text(text)} | {' '.join(map(str, perf))}"
    return CheckSummary(code, line, {p.label: p.value for p in perf})


def mute_note(s: Silence) -> str:
    """``ACK by ops@laptop: re-login scheduled`` / ``SILENCED by …``."""
    who = f" by {s.created_by}" if s.created_by else ""
    why = f": {s.reason}" if s.reason else ""
    return ("ACK" if s.ack else "SILENCED") + who + why


def alert_note(a: Alert) -> str:
    """What mutes an alert (``ACK by …``, ``SILENCED by …``, ``INHIBITED by …``), or ""."""
    if a.muted_by:
        return mute_note(a.muted_by)
    return f"INHIBITED by {a.inhibited_by}" if a.inhibited_by else ""


def check_lines(status: FleetStatus, summary: CheckSummary, actions: Sequence[ActionFinished]) -> list[str]:
    """``check``'s text output: the summary line, one line per open alert, actions, silences, backlog."""
    lines = [
        format_alert(a.episode, "firing", a.episode.started_at, False, alert_note(a)) for a in status.alerts()
    ]
    lines += [action_line(a, False) for a in actions]
    lines += [silences.describe(s, status.now) for s in status.silences]
    lines += [b.describe() for b in status.backlog]
    # Hosts' own words reach these lines: no `|` (an engine would read perfdata from it), one line each.
    return [summary.line, *map(plugin_text, lines)]


def check_document(
    status: FleetStatus, summary: CheckSummary, actions: Sequence[ActionFinished]
) -> dict[str, Any]:
    """``check --json``: one document for machines."""
    return {
        "schema": JSON_SCHEMA,
        "status": summary.code.name,
        "summary": summary.line,
        "perfdata": summary.perfdata,
        "alerts": [
            {**alert_record(a.episode, "firing", a.episode.started_at), "muted": alert_note(a)}
            for a in status.alerts()
        ],
        "silences": [dataclasses.asdict(s) for s in status.silences]
        + [dataclasses.asdict(b) for b in status.backlog],
        "actions": [json.loads(action_line(a, True)) for a in actions],
    }


def action_line(a: ActionFinished, as_json: bool) -> str:
    """One auto-stop outcome: ``[STOP] pi3 oauth_fail: stopped — …``."""
    if as_json:
        return json.dumps(
            {
                "action": "auto-stop",
                "host": a.host,
                "detector": a.detector,
                "outcome": a.outcome,
                "summary": a.summary,
                "command": a.command,
            }
        )
    return str(a)
