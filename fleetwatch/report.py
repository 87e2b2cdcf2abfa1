"""Alert lines for people (text) and machines (JSON lines).  Pure formatting."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fleetwatch.detect.base import human_duration
from fleetwatch.episodes import Change, Episode, EpisodeKey, Transition
from fleetwatch.findings import Severity


class ExitCode(enum.IntEnum):
    """Monitoring-plugin convention (Nagios, Icinga, Sensu)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def iso(ts: float) -> str:
    """UTC ISO-8601 with seconds."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
