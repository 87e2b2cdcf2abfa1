"""Alert lines for people (text) and machines (JSON lines).  Pure formatting."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch.basics import human_duration, iso
from fleetwatch.episodes import Change, Episode, EpisodeKey, Transition
from fleetwatch.findings import Severity
from fleetwatch.vantage import WATCHER


class ExitCode(enum.IntEnum):
    """Monitoring-plugin convention (Nagios, Icinga, Sensu)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


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


def check_summary(
    open_episodes: Mapping[EpisodeKey, Episode],
    hosts: Sequence[str],
    muted: Mapping[EpisodeKey, str],
    extra: Mapping[str, float | int] | None = None,
) -> CheckSummary:
    """``FLEETWATCH CRITICAL - 2 critical, 1 warning, 9 ok of 12 hosts | hosts=12 ok=9 …``.

    Silenced and acknowledged alerts are listed but do not raise the status: muting a known problem
    is what they are for.  Alerts about the watcher itself (``watcher_offline``) raise it.
    """
    live = [e for k, e in open_episodes.items() if k not in muted and e.severity > Severity.INFO]
    worst = {h: max((e.severity for e in live if e.host == h), default=Severity.INFO) for h in hosts}
    crit = sum(1 for s in worst.values() if s is Severity.CRITICAL)
    warn = sum(1 for s in worst.values() if s is Severity.WARNING)
    ok = len(hosts) - crit - warn
    overall = max((e.severity for e in live if e.host in worst or e.host == WATCHER), default=Severity.INFO)
    code = {Severity.CRITICAL: ExitCode.CRITICAL, Severity.WARNING: ExitCode.WARNING}.get(
        overall, ExitCode.OK
    )
    perf: dict[str, float | int] = {
        "hosts": len(hosts),
        "ok": ok,
        "warning": warn,
        "critical": crit,
        "alerts": sum(1 for e in open_episodes.values() if e.host in worst or e.host == WATCHER),
        "muted": len(muted),
        **(extra or {}),
    }
    text = f"FLEETWATCH {code.name} - {crit} critical, {warn} warning, {ok} ok of {len(hosts)} hosts"
    perf_text = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in perf.items())
    return CheckSummary(code, f"{text} | {perf_text}", perf)


def muted_line(ep: Episode, note: str, as_json: bool) -> str:
    """An open alert line with its silence or ack shown."""
    if as_json:
        return json.dumps({**alert_record(ep, "firing", ep.started_at), "muted": note}, default=str)
    return f"{text_line(ep, 'firing', ep.started_at)} [{note}]"


def action_line(host: str, detector: str, outcome: str, summary: str, command: str, as_json: bool) -> str:
    """One auto-stop outcome: ``[STOP] pi3 oauth_fail: stopped — …``."""
    if as_json:
        return json.dumps(
            {
                "action": "auto-stop",
                "host": host,
                "detector": detector,
                "outcome": outcome,
                "summary": summary,
                "command": command,
            }
        )
    return f"[STOP] {summary}"
