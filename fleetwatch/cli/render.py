"""Text and JSON for people and machines: alert lines, the ``check`` plugin output, ``status`` tables.

Pure formatting of the read model (``FleetStatus``) and of episodes; nothing here polls or stores."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch import silences
from fleetwatch.basics import human_duration, iso
from fleetwatch.episodes import Change, Episode, EpisodeKey, Transition
from fleetwatch.events import ActionFinished
from fleetwatch.findings import Severity
from fleetwatch.silences import Silence
from fleetwatch.status import Alert, ExitCode, FleetStatus


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


def format_alert(ep: Episode, state: str, ts: float, as_json: bool) -> str:
    """One output line for an alert in the chosen format."""
    if as_json:
        return json.dumps(alert_record(ep, state, ts), default=str, ensure_ascii=False)
    return text_line(ep, state, ts)


def transition_lines(transitions: Iterable[Transition], as_json: bool) -> list[str]:
    """Lines for transitions as they happen (watch mode)."""
    lines = []
    for t in transitions:
        state = "resolved" if t.change is Change.RESOLVED else "firing"
        ts = t.at if state == "resolved" else t.episode.started_at
        lines.append(format_alert(t.episode, state, ts, as_json))
    return lines


def open_lines(open_episodes: Mapping[EpisodeKey, Episode], hosts: set[str], as_json: bool) -> list[str]:
    """Lines for every open alert on ``hosts``, worst first."""
    eps = [e for e in open_episodes.values() if e.host in hosts]
    eps.sort(key=lambda e: (-e.severity, e.host, e.detector))
    return [format_alert(e, "firing", e.started_at, as_json) for e in eps]


def exit_code(open_episodes: Mapping[EpisodeKey, Episode], hosts: set[str]) -> ExitCode:
    """Worst open severity among ``hosts`` as a monitoring exit code."""
    worst = max((e.severity for e in open_episodes.values() if e.host in hosts), default=Severity.INFO)
    return {Severity.INFO: ExitCode.OK, Severity.WARNING: ExitCode.WARNING}.get(worst, ExitCode.CRITICAL)


@dataclass(frozen=True)
class CheckSummary:
    """The monitoring-plugin view of one pass: status, per-host counts, perfdata."""

    code: ExitCode
    line: str
    perfdata: dict[str, float | int]


def check_summary(status: FleetStatus, extra: Mapping[str, float | int] | None = None) -> CheckSummary:
    """``FLEETWATCH CRITICAL - 2 critical, 1 warning, 9 ok of 12 hosts | hosts=12 ok=9 …``.

    ``extra`` perfdata (the pass's ``seconds``) goes before the notification backlog's counts.

    Silenced and acknowledged alerts are listed but do not raise the status: muting a known problem
    is what they are for.  Alerts about the watcher itself (``watcher_offline``) raise it.
    """
    worst = [h.live_severity for h in status.hosts]
    crit = sum(1 for s in worst if s is Severity.CRITICAL)
    warn = sum(1 for s in worst if s is Severity.WARNING)
    ok = len(status.hosts) - crit - warn
    alerts = status.alerts()
    overall = max((a.episode.severity for a in alerts if a.live), default=Severity.INFO)
    code = {Severity.CRITICAL: ExitCode.CRITICAL, Severity.WARNING: ExitCode.WARNING}.get(
        overall, ExitCode.OK
    )
    perf: dict[str, float | int] = {
        "hosts": len(status.hosts),
        "ok": ok,
        "warning": warn,
        "critical": crit,
        "alerts": len(alerts),
        "muted": sum(1 for a in alerts if not a.live),
        **(extra or {}),
        "pending": sum(b.pending for b in status.backlog),
        "failed": sum(b.failed for b in status.backlog),
    }
    text = f"FLEETWATCH {code.name} - {crit} critical, {warn} warning, {ok} ok of {len(status.hosts)} hosts"
    perf_text = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in perf.items())
    return CheckSummary(code, f"{text} | {perf_text}", perf)


def mute_note(s: Silence) -> str:
    """``ACK by ops@laptop: re-login scheduled`` / ``SILENCED by …``."""
    who = f" by {s.created_by}" if s.created_by else ""
    why = f": {s.reason}" if s.reason else ""
    return ("ACK" if s.ack else "SILENCED") + who + why


def _note(a: Alert) -> str:
    return mute_note(a.muted_by) if a.muted_by else ""


def check_lines(status: FleetStatus, summary: CheckSummary, actions: Sequence[ActionFinished]) -> list[str]:
    """``check``'s text output: the summary line, one line per open alert, actions, silences, backlog."""
    lines = [summary.line]
    for a in status.alerts():
        ep = a.episode
        line = text_line(ep, "firing", ep.started_at)
        lines.append(f"{line} [{mute_note(a.muted_by)}]" if a.muted_by else line)
    lines += [action_line(a, False) for a in actions]
    lines += [silences.describe(s, status.now) for s in status.silences]
    return lines + [b.describe() for b in status.backlog]


def check_document(
    status: FleetStatus, summary: CheckSummary, actions: Sequence[ActionFinished]
) -> dict[str, Any]:
    """``check --json``: one document for machines."""
    return {
        "status": summary.code.name,
        "summary": summary.line,
        "perfdata": summary.perfdata,
        "alerts": [
            {**alert_record(a.episode, "firing", a.episode.started_at), "muted": _note(a)}
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
