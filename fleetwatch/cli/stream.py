"""How a long-running watch reads: a start line, a short timestamped line per pass, timestamped and (on
a terminal) coloured alert lines.  Pure formatting."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetwatch.basics import human_duration
from fleetwatch.cli.render import host_counts
from fleetwatch.status import FleetStatus

_COLOURS = {"[CRIT]": "31", "[WARN]": "33", "[ OK ]": "32", "[INFO]": "36"}


def colour_wanted(stream: object = sys.stdout) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return "NO_COLOR" not in os.environ and callable(isatty) and bool(isatty())


@dataclass(frozen=True)
class Stamp:
    """Timestamps (local time, or UTC) and colour for text lines."""

    utc: bool = False
    colour: bool = False

    def clock(self, ts: float) -> str:
        """``12:04:05`` local, or ``12:04:05Z``."""
        if self.utc:
            return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%SZ")
        return datetime.fromtimestamp(ts).strftime("%H:%M:%S")

    def lines(self, lines: Iterable[str], ts: float) -> list[str]:
        """Alert lines prefixed with the time they were seen, their tag coloured on a terminal."""
        return [f"{self.clock(ts)} {self._paint(line)}" for line in lines]

    def _paint(self, line: str) -> str:
        tag = line[:6]
        if not self.colour or tag not in _COLOURS:
            return line
        return f"\033[{_COLOURS[tag]}m{tag}\033[0m{line[6:]}"


def start_line(hosts: int, interval_s: float, state: str, targets: Sequence[str], once: bool) -> str:
    """What a watch is about to do: hosts, interval, state dir, targets (already redacted)."""
    what = "one pass over" if once else "watching"
    every = "" if once else f" every {human_duration(interval_s)}"
    notify = ", ".join(targets) if targets else "no notification targets"
    return f"{what} {hosts} host{'s' if hosts != 1 else ''}{every}; state in {state}; {notify}"


def pass_line(stamp: Stamp, number: int, status: FleetStatus, seconds: float) -> str:
    """``12:04:05 pass 17: 38 ok, 1 warn, 1 crit, 0 unreachable in 2.3 s``."""
    c = host_counts(status)
    text = f"pass {number}: {c['ok']} ok, {c['warning']} warn, {c['critical']} crit"
    text += f", {c['unreachable']} unreachable"
    if c["unknown"]:
        text += f", {c['unknown']} unknown"
    if status.pending:
        text += f", {len(status.pending)} pending at the deadline"
    if status.watcher_offline:
        text += ", this watcher seems offline"
    return f"{stamp.clock(status.now)} {text} in {seconds:.1f} s"
